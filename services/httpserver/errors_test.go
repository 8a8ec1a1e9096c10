package httpserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/loadfleet/loadfleet/schemas/plan"
	"github.com/loadfleet/loadfleet/services/httpserver"
)

func TestErrorsMapsTheFirstMatchingRow(t *testing.T) {
	errSpecific := errors.New("specific")
	errGeneral := fmt.Errorf("general")
	table := append(httpserver.Errors{
		{Err: errSpecific, Status: http.StatusConflict, Code: httpserver.CodeIllegalTransition},
		{Err: errGeneral, Status: http.StatusConflict, Code: httpserver.CodeConflict},
	}, httpserver.PlanErrors()...)
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("wrapped: %w", errSpecific), 409, httpserver.CodeIllegalTransition},
		{fmt.Errorf("%w: %w", errGeneral, errSpecific), 409, httpserver.CodeIllegalTransition},
		{errGeneral, 409, httpserver.CodeConflict},
		{&plan.ValidationError{Kind: plan.ErrInvalid}, 422, httpserver.CodeInvalidPlan},
		{&plan.ValidationError{Kind: plan.ErrTooDeep}, 422, httpserver.CodeInvalidPlan},
		{&plan.ValidationError{Kind: plan.ErrSyntax}, 400, httpserver.CodeSyntax},
		{&plan.ValidationError{Kind: plan.ErrTooLarge}, 413, httpserver.CodeTooLarge},
		{errors.New("disk full"), 500, httpserver.CodeInternal},
	} {
		if status, code := table.Status(tt.err); status != tt.status || code != tt.code {
			t.Errorf("Status(%v) = %d %q, want %d %q", tt.err, status, code, tt.status, tt.code)
		}
	}
}

func TestErrorsWriteCarriesCodeAndProblems(t *testing.T) {
	rec := httptest.NewRecorder()
	err := fmt.Errorf("start: %w", &plan.ValidationError{Kind: plan.ErrInvalid,
		Problems: []plan.Problem{{Path: "/load", Message: "required"}}})
	httpserver.PlanErrors().Write(rec, err)
	var body httpserver.ErrorBody
	if e := json.Unmarshal(rec.Body.Bytes(), &body); e != nil {
		t.Fatal(e)
	}
	if rec.Code != 422 || body.Code != httpserver.CodeInvalidPlan || len(body.Problems) != 1 ||
		body.Problems[0].Path != "/load" || body.Error != err.Error() {
		t.Fatalf("Write = %d %+v", rec.Code, body)
	}
}
