package command

import (
	"fmt"
	"log/slog"

	"github.com/loadfleet/loadfleet/executors/native"
	"github.com/loadfleet/loadfleet/executors/runtime"
	"github.com/loadfleet/loadfleet/schemas/plan"
)

// newTool returns the tool that runs the plan. Adapters for JMeter, Gatling
// and k6 join here as they are built.
func newTool(name plan.Tool, logger *slog.Logger) (runtime.Tool, error) {
	switch name {
	case plan.ToolNative:
		return native.New(logger.With("tool", "native")), nil
	}
	return nil, fmt.Errorf("tool %q is not available in this executor", name)
}
