package demotarget

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

func timedGet(t *testing.T, url string) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return 0, 0
	}
	resp.Body.Close()
	return time.Since(start), resp.StatusCode
}

// burst sends n requests at once and returns the slowest answer and the
// statuses seen.
func burst(t *testing.T, url string, n int) (time.Duration, map[int]int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	slowest, statuses := time.Duration(0), map[int]int{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took, status := timedGet(t, url)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			statuses[status]++
		}()
	}
	wg.Wait()
	return slowest, statuses
}

// Latency is flat below capacity, grows with the line past it, and comes
// back once the line drains: the shape the demo's report must show.
func TestLatencyRisesPastCapacityAndRecovers(t *testing.T) {
	const service = 5 * time.Millisecond
	srv := httptest.NewServer(New(Config{Workers: 2, ServiceTime: service}))
	defer srv.Close()

	idle, _ := timedGet(t, srv.URL+"/sale")
	slowest, statuses := burst(t, srv.URL+"/sale", 100) // 50 service times of work for 2 workers
	after, _ := timedGet(t, srv.URL+"/sale")

	if idle < 4*time.Millisecond || idle > 30*time.Millisecond {
		t.Errorf("idle latency %v, want about the %v service time", idle, service)
	}
	if slowest < 40*4*time.Millisecond || statuses[200] != 100 {
		t.Errorf("slowest of a 100-request burst %v (%v); want every request served, the last after ~50 service times", slowest, statuses)
	}
	if after > 30*time.Millisecond {
		t.Errorf("latency after the burst drained %v; want it back near %v", after, service)
	}
	t.Logf("idle %v, slowest in burst %v, after %v", idle, slowest, after)
}

func TestAFullLineIsShed(t *testing.T) {
	target := New(Config{Workers: 1, ServiceTime: 20 * time.Millisecond, MaxWaiting: 5})
	srv := httptest.NewServer(target)
	defer srv.Close()
	_, statuses := burst(t, srv.URL+"/sale", 30)
	if statuses[http.StatusServiceUnavailable] == 0 || statuses[200] < 5 || target.Shed() != int64(statuses[503]) {
		t.Fatalf("statuses %v, shed %d: want some served and the overflow refused with 503", statuses, target.Shed())
	}
}

func TestReservationsRunOutOfStock(t *testing.T) {
	srv := httptest.NewServer(New(Config{ServiceTime: time.Millisecond, Stock: 2}))
	defer srv.Close()
	var got []int
	for range 3 {
		resp, err := http.PostForm(srv.URL+"/api/reserve", url.Values{"sku": {"FLASH-1"}, "session": {"7"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	resp, err := http.PostForm(srv.URL+"/api/reserve", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got[0] != 200 || got[1] != 200 || got[2] != 409 || resp.StatusCode != 400 {
		t.Fatalf("statuses %v then %d without a sku; want 200 200 409, then 400", got, resp.StatusCode)
	}
}
