package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SlackPost is one chat.postMessage the Slack server accepted.
type SlackPost struct {
	Channel   string // as requested (an ID or #name)
	ChannelID string // as answered
	TS        string
	Text      string
	Blocks    json.RawMessage
	Metadata  json.RawMessage
}

// SlackUpload is one file upload: the URL handed out, the bytes posted to
// it, and its completion into a channel.
type SlackUpload struct {
	FileID    string
	Filename  string
	Length    int // as announced to files.getUploadURLExternal
	Data      []byte
	Completed bool
	Title     string
	ChannelID string
	ThreadTS  string
}

// SlackServer answers the Slack Web API methods the slack sender calls
// (chat.postMessage, files.getUploadURLExternal, the upload URL it hands
// out, files.completeUploadExternal) on 127.0.0.1, checking the token.
type SlackServer struct {
	// APIURL is what slack.OptionAPIURL takes.
	APIURL string
	Token  string

	mu            sync.Mutex
	posts         []SlackPost
	uploads       map[string]*SlackUpload
	order         []string
	failPosts     []slackFailure
	failCompletes []string
	changed       chan struct{}
}

type slackFailure struct {
	status     int    // 429 for a rate limit
	retryAfter int    // seconds, with 429
	err        string // Slack error code, with ok:false
}

// NewSlackServer starts a Slack Web API server accepting token; it stops
// when the test ends.
func NewSlackServer(t testing.TB, token string) *SlackServer {
	t.Helper()
	s := &SlackServer{Token: token, uploads: map[string]*SlackUpload{}, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat.postMessage", s.postMessage)
	mux.HandleFunc("POST /api/files.getUploadURLExternal", s.getUploadURL)
	mux.HandleFunc("POST /api/files.completeUploadExternal", s.completeUpload)
	mux.HandleFunc("POST /upload/{id}", s.upload)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method"})
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	s.APIURL = srv.URL + "/api/"
	return s
}

// RateLimitPosts answers the next n chat.postMessage calls with 429 and
// Retry-After.
func (s *SlackServer) RateLimitPosts(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failPosts = append(s.failPosts, slackFailure{status: http.StatusTooManyRequests, retryAfter: int(retryAfter.Seconds())})
	}
}

// FailPosts answers the next chat.postMessage calls with ok:false and
// these Slack error codes, one each.
func (s *SlackServer) FailPosts(codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, code := range codes {
		s.failPosts = append(s.failPosts, slackFailure{status: http.StatusOK, err: code})
	}
}

// FailCompletes answers the next files.completeUploadExternal calls with
// ok:false and these Slack error codes, one each.
func (s *SlackServer) FailCompletes(codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCompletes = append(s.failCompletes, codes...)
}

// Posts returns the accepted messages so far.
func (s *SlackServer) Posts() []SlackPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SlackPost(nil), s.posts...)
}

// Uploads returns the uploads so far, in the order their URLs were asked.
func (s *SlackServer) Uploads() []SlackUpload {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SlackUpload, 0, len(s.order))
	for _, id := range s.order {
		u := *s.uploads[id]
		u.Data = append([]byte(nil), u.Data...)
		out = append(out, u)
	}
	return out
}

// WaitPosts waits until at least n messages were posted; the test fails
// after timeout.
func (s *SlackServer) WaitPosts(t testing.TB, n int, timeout time.Duration) []SlackPost {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		posts, changed := append([]SlackPost(nil), s.posts...), s.changed
		s.mu.Unlock()
		if len(posts) >= n {
			return posts
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("slack test server: %d posts after %s, want %d", len(posts), timeout, n)
		}
	}
}

// authorized checks the token, sent as a form field (Web API methods) or
// as a bearer token (the upload URL).
func (s *SlackServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") == "Bearer "+s.Token || r.PostFormValue("token") == s.Token {
		return true
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
	return false
}

func (s *SlackServer) postMessage(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	channel := r.PostFormValue("channel")
	if channel == "" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failPosts) > 0 {
		f := s.failPosts[0]
		s.failPosts = s.failPosts[1:]
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
			w.WriteHeader(f.status)
			return
		}
		writeJSON(w, f.status, map[string]any{"ok": false, "error": f.err})
		return
	}
	post := SlackPost{
		Channel:   channel,
		ChannelID: channelID(channel),
		TS:        fmt.Sprintf("1700000000.%06d", len(s.posts)+1),
		Text:      r.PostFormValue("text"),
		Blocks:    json.RawMessage(r.PostFormValue("blocks")),
		Metadata:  json.RawMessage(r.PostFormValue("metadata")),
	}
	s.posts = append(s.posts, post)
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]any{
		"ok": true, "channel": post.ChannelID, "ts": post.TS,
		"message": map[string]any{"type": "message", "text": post.Text, "ts": post.TS},
	})
}

func (s *SlackServer) getUploadURL(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	length, err := strconv.Atoi(r.PostFormValue("length"))
	if err != nil || length <= 0 || r.PostFormValue("filename") == "" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("F%04d", len(s.order)+1)
	s.uploads[id] = &SlackUpload{FileID: id, Filename: r.PostFormValue("filename"), Length: length}
	s.order = append(s.order, id)
	base := strings.TrimSuffix(s.APIURL, "/api/")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "upload_url": base + "/upload/" + id, "file_id": id})
}

func (s *SlackServer) upload(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(file)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[r.PathValue("id")]
	if !ok {
		http.Error(w, "unknown upload", http.StatusNotFound)
		return
	}
	u.Data = data
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
}

func (s *SlackServer) completeUpload(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(r.PostFormValue("files")), &files); err != nil || len(files) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failCompletes) > 0 {
		code := s.failCompletes[0]
		s.failCompletes = s.failCompletes[1:]
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return
	}
	var done []map[string]string
	for _, f := range files {
		u, ok := s.uploads[f.ID]
		if !ok || len(u.Data) != u.Length {
			// Slack refuses files whose bytes did not all arrive.
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "file_not_found"})
			return
		}
		u.Completed, u.Title = true, f.Title
		u.ChannelID, u.ThreadTS = r.PostFormValue("channel_id"), r.PostFormValue("thread_ts")
		done = append(done, map[string]string{"id": f.ID, "title": f.Title})
	}
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "files": done})
}

func (s *SlackServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// channelID answers a stable ID for a channel name, as Slack does.
func channelID(channel string) string {
	if strings.HasPrefix(channel, "C") && !strings.HasPrefix(channel, "#") {
		return channel
	}
	return "C" + strings.ToUpper(strings.TrimPrefix(channel, "#"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
