package http

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// errPoolTimeout is a request that timed out waiting for a connection.
var errPoolTimeout = errors.New("timed out waiting for a connection")

const (
	// bufferSize is the read and write buffer of a request in flight; the
	// read buffer also bounds a response's header block.
	bufferSize = 4096
	// idleTimeout retires idle connections before typical servers do
	// (their keep-alive timeouts are 5 s and up), so a reused connection
	// is rarely one the server is closing.
	idleTimeout = 4 * time.Second
	// stallAfter is how long without a connection coming back makes the
	// pool dial regardless of its estimates.
	stallAfter = time.Millisecond
	// dialFactor weighs a dial against waiting: a dial costs far more CPU
	// than its wall time shows, CPU that every other session then waits for.
	dialFactor = 20
	// worthWaitingAtMost caps what a dial is weighed at. Dial times
	// measured while thousands of sessions start at once include their
	// scheduling and can reach tens of milliseconds; weighed 20 times, such
	// an estimate would keep a line waiting a second for a 1 s server, and
	// since no dial follows, the estimate would never be corrected.
	worthWaitingAtMost = 10 * time.Millisecond
	// growthWindow, growthDivisor and minGrowth bound how fast a pool
	// grows: per window, dials for a quarter of its size, or minGrowth when
	// that is more. A hiccup of a few milliseconds on a busy injector (or
	// target) leaves hundreds of arrivals waiting at once; dialing for each
	// of them spent the CPU that was already short, the next arrivals
	// waited longer and dialed too, and loopback runs at 61,000 arrivals/s
	// went from 20 connections to 800 and dropped 4,000 arrivals. Only
	// brief lines are paced (poolState.briefWait): a server that holds its
	// requests gets its dials at once.
	growthWindow  = 50 * time.Millisecond
	growthDivisor = 4
	minGrowth     = 64
	// serviceWindow is how long the shortest service time is kept.
	serviceWindow = 100 * time.Millisecond
	// ewmaWeight smooths the dial time estimate.
	ewmaWeight = 0.1
)

// pconn is a pooled HTTP/1.1 connection. Its buffers are taken from pools
// per request, so idle connections cost no buffer memory.
type pconn struct {
	conn     net.Conn
	tracked  *trackedConn
	raw      *rawIO // plain TCP on Linux; nil otherwise
	idleFrom time.Time
}

// waiter is a request waiting for a connection; its channel receives
// exactly one grant per wait. An Exchange owns one and reuses it, so that
// a request waiting in line allocates nothing: an injector short of CPU
// has hundreds in line, and their garbage made it shorter still.
type waiter struct {
	grant    chan grant
	timer    *time.Timer
	deadline time.Time
}

func (w *waiter) init() {
	if w.grant == nil {
		w.grant = make(chan grant, 1)
		w.timer = time.NewTimer(time.Hour)
		w.timer.Stop()
	}
}

type grant struct {
	pc  *pconn
	err error
}

// hostPool is the keep-alive pool of one scheme://host.
//
// A request takes the most recently used idle connection. Without one, it
// waits in line, and the pool dials only when waiting is expected to take
// longer than dialing: the expected wait is the waiters ahead divided by
// the connections in use, times the service time, and it is at least the
// time since a connection was last returned (a stalled server returns
// none). This is what keeps a fast target from collapsing the injector: at
// tens of thousands of arrivals per second a connection comes back every
// few microseconds, far sooner than a dial (which costs more CPU than a
// request), so a burst of arrivals is served by the connections already
// open instead of by a storm of dials that would make the burst worse. A
// slow target, whose connections come back rarely, gets new connections at
// once.
type hostPool struct {
	addr     string
	tls      *tls.Config // nil for http
	dial     func(addr string, timeout time.Duration) (*trackedConn, error)
	maxConns int

	mu      sync.Mutex
	idle    []*pconn
	waiters []*waiter // oldest first
	open    int       // connections open or being dialed
	dialing int
	// grown counts the dials started since windowFrom (growthWindow).
	grown      int
	windowFrom time.Time
	returned   time.Time // when a connection last came back
	// service is the shortest hold of a connection by a request over the
	// last one or two serviceWindows: what the server needs. Not a mean:
	// an injector that stalls (a garbage collection, a snapshot, its own
	// CPU running out) sees every request in flight held that long, and a
	// mean then called for a dial per waiter, hundreds of dials that made
	// the stall worse (at 30,000 arrivals/s on one CPU, 38 connections
	// became 700 after a 10 ms stall and the run never recovered). A
	// server slower across the board raises the minimum within a window.
	service  minWindow
	dialTime time.Duration // EWMA of a dial (and TLS handshake)
	closed   bool
	// recheck looks at the line again while it is not empty.
	recheck      *time.Timer
	recheckArmed bool
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufferSize) }}
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferSize) }}

func newHostPool(addr string, tlsConfig *tls.Config, maxConns int, dial func(string, time.Duration) (*trackedConn, error)) *hostPool {
	if maxConns <= 0 {
		maxConns = 1 << 30
	}
	return &hostPool{addr: addr, tls: tlsConfig, dial: dial, maxConns: maxConns, returned: time.Now()}
}

// get returns a connection, waiting at most until deadline in w.
func (p *hostPool) get(deadline time.Time, w *waiter) (*pconn, error) {
	p.mu.Lock()
	if pc := p.takeIdleLocked(); pc != nil {
		p.mu.Unlock()
		return pc, nil
	}
	if p.closed {
		p.mu.Unlock()
		return nil, net.ErrClosed
	}
	w.init()
	w.deadline = deadline
	p.waiters = append(p.waiters, w)
	p.maybeDialLocked(deadline)
	p.armRecheckLocked()
	p.mu.Unlock()

	if g, ok := p.await(w, deadline); ok {
		return g.pc, g.err
	}
	p.mu.Lock()
	if p.removeWaiterLocked(w) {
		p.mu.Unlock()
		return nil, errPoolTimeout
	}
	p.mu.Unlock()
	// Granted while timing out: give the connection to the next in line.
	if g := <-w.grant; g.pc != nil {
		p.put(g.pc, 0)
	}
	return nil, errPoolTimeout
}

// await waits for w's grant until deadline. It never polls: the line's
// one recheck timer (armRecheckLocked) asks whether to dial. A timer per
// waiter did, and a line of hundreds woke the scheduler every few
// microseconds: on one CPU its run queue never emptied, so the network
// was never polled, no response was read, no connection came back, and
// the line only grew.
func (p *hostPool) await(w *waiter, deadline time.Time) (grant, bool) {
	w.timer.Reset(time.Until(deadline))
	// Stopped timers deliver nothing stale (Go 1.23), so the timer is
	// ready for the next wait either way.
	defer w.timer.Stop()
	select {
	case g := <-w.grant:
		return g, true
	case <-w.timer.C:
		return grant{}, false
	}
}

// armRecheckLocked makes sure the line is looked at again once per dial
// time while it is not empty: a server that stops returning connections
// must not leave the line waiting for returns that never come.
func (p *hostPool) armRecheckLocked() {
	if p.recheckArmed || len(p.waiters) == 0 || p.closed {
		return
	}
	p.recheckArmed = true
	after := max(10*p.dialTime, stallAfter)
	if p.recheck == nil {
		p.recheck = time.AfterFunc(after, p.onRecheck)
		return
	}
	p.recheck.Reset(after)
}

func (p *hostPool) onRecheck() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recheckArmed = false
	if len(p.waiters) == 0 || p.closed {
		return
	}
	p.maybeDialLocked(p.waiters[0].deadline)
	p.armRecheckLocked()
}

// takeIdleLocked pops the most recently used idle connection, closing
// those idle too long.
func (p *hostPool) takeIdleLocked() *pconn {
	for n := len(p.idle); n > 0; n = len(p.idle) {
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if time.Since(pc.idleFrom) < idleTimeout {
			return pc
		}
		p.open--
		_ = pc.conn.Close()
	}
	return nil
}

// maybeDialLocked starts a dial when a waiter would otherwise wait longer
// than a dial takes.
func (p *hostPool) maybeDialLocked(deadline time.Time) {
	if p.open >= p.maxConns {
		return
	}
	state := poolState{
		waiters:     len(p.waiters),
		dialing:     p.dialing,
		inUse:       p.open - p.dialing - len(p.idle),
		service:     p.service.value(),
		dialTime:    p.dialTime,
		sinceReturn: time.Since(p.returned),
	}
	if !state.worthDialing() || state.briefWait() && !p.mayGrowLocked() {
		return
	}
	p.open++
	p.dialing++
	go p.dialFor(deadline)
}

// mayGrowLocked spends one dial of the window's growth budget, if any is
// left. A waiter refused here asks again on its next recheck.
func (p *hostPool) mayGrowLocked() bool {
	if now := time.Now(); now.Sub(p.windowFrom) >= growthWindow {
		p.windowFrom, p.grown = now, 0
	}
	if p.grown >= max(minGrowth, p.open/growthDivisor) {
		return false
	}
	p.grown++
	return true
}

// poolState is what the dial decision looks at.
type poolState struct {
	waiters, dialing, inUse int
	service                 time.Duration // shortest recent hold
	dialTime                time.Duration // EWMA
	sinceReturn             time.Duration // since a connection last came back
}

// worthDialing says whether the waiters not yet covered by a dial would
// wait longer for a returning connection than for a new one.
func (s poolState) worthDialing() bool {
	if s.waiters <= s.dialing {
		return false
	}
	if s.inUse <= 0 {
		return true
	}
	if s.expectedWait() >= min(dialFactor*s.dialTime, worthWaitingAtMost) {
		return true
	}
	// Silence longer than stallAfter means the estimate may be stale; it
	// is generous because an injector busy on one CPU can itself delay a
	// return by a few hundred microseconds. A silence may be a stalled
	// server or only a busy machine, so it earns one dial at a time, never
	// one per waiter.
	stalled := s.sinceReturn > max(stallAfter, 10*s.dialTime)
	return stalled && s.dialing == 0
}

// expectedWait is how long the waiters not yet covered by a dial would
// wait for returning connections.
func (s poolState) expectedWait() time.Duration {
	if s.inUse <= 0 {
		return 0
	}
	return time.Duration(s.waiters-s.dialing) * s.service / time.Duration(s.inUse)
}

// briefWait says whether the line is one the growth budget should pace: a
// wait, and a silence, both shorter than growthWindow (a hiccup of a fast
// target or of the injector). A server that holds its requests (expected
// waits, or silences, of growthWindow and more) gets its dials at once:
// pacing them would only make its sessions queue for connections.
func (s poolState) briefWait() bool {
	return s.expectedWait() < growthWindow && s.sinceReturn < growthWindow
}

func (p *hostPool) dialFor(deadline time.Time) {
	began := time.Now()
	pc, err := p.connect(deadline)
	p.mu.Lock()
	p.dialing--
	if err != nil {
		p.open--
		// The oldest waiter learns why (a refused connection fails fast
		// rather than waiting out its timeout); the others get dials of
		// their own.
		if len(p.waiters) > 0 {
			w := p.popWaiterLocked()
			w.grant <- grant{err: err}
		}
		p.maybeDialLocked(deadline)
		p.mu.Unlock()
		return
	}
	p.dialTime = ewma(p.dialTime, time.Since(began))
	p.mu.Unlock()
	p.put(pc, 0)
	// A line still waiting on a silent server gets its next dial now, not
	// at the next recheck: dials one at a time, but back to back.
	p.mu.Lock()
	if len(p.waiters) > 0 {
		p.maybeDialLocked(p.waiters[0].deadline)
	}
	p.mu.Unlock()
}

func (p *hostPool) connect(deadline time.Time) (*pconn, error) {
	tc, err := p.dial(p.addr, time.Until(deadline))
	if err != nil {
		return nil, err
	}
	pc := &pconn{conn: tc, tracked: tc}
	if p.tls == nil {
		pc.raw = newRawIO(tc)
		return pc, nil
	}
	tlsConn := tls.Client(tc, p.tls)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		_ = tc.Close()
		return nil, err
	}
	pc.conn = tlsConn
	return pc, nil
}

// put returns a connection that finished a request which held it for
// held (0 for a connection that carried none).
func (p *hostPool) put(pc *pconn, held time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if held > 0 {
		// Only a request's return shows the server answering; a new
		// connection does not end a silence.
		p.returned = now
		p.service.add(held, now)
	}
	if p.closed {
		p.open--
		_ = pc.conn.Close()
		return
	}
	if len(p.waiters) > 0 {
		p.popWaiterLocked().grant <- grant{pc: pc}
		return
	}
	pc.idleFrom = now
	p.idle = append(p.idle, pc)
}

// discard closes a connection that cannot be reused.
func (p *hostPool) discard(pc *pconn) {
	_ = pc.conn.Close()
	p.mu.Lock()
	p.open--
	p.maybeDialLocked(time.Now().Add(time.Minute))
	p.mu.Unlock()
}

// closeAll closes the idle connections and fails the waiters; connections
// in use are cut by the connSet.
func (p *hostPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, pc := range p.idle {
		_ = pc.conn.Close()
	}
	p.open -= len(p.idle)
	p.idle = nil
	for len(p.waiters) > 0 {
		p.popWaiterLocked().grant <- grant{err: net.ErrClosed}
	}
}

func (p *hostPool) popWaiterLocked() *waiter {
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	return w
}

func (p *hostPool) removeWaiterLocked(w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// minWindow is the minimum of the samples of the current window and of the
// window just before it.
type minWindow struct {
	prev, cur time.Duration // 0: no sample
	from      time.Time
}

func (w *minWindow) add(d time.Duration, now time.Time) {
	if since := now.Sub(w.from); since >= serviceWindow {
		w.prev, w.cur, w.from = w.cur, d, now
		if since >= 2*serviceWindow {
			w.prev = 0 // the window before this one saw nothing
		}
		return
	}
	if w.cur == 0 || d < w.cur {
		w.cur = d
	}
}

func (w *minWindow) value() time.Duration {
	switch {
	case w.prev == 0:
		return w.cur
	case w.cur == 0:
		return w.prev
	}
	return min(w.prev, w.cur)
}

func ewma(prev, sample time.Duration) time.Duration {
	if prev == 0 {
		return sample
	}
	return prev + time.Duration(ewmaWeight*float64(sample-prev))
}

// errWarmAbandoned stands for the dials a warm-up skipped after its first
// failure; the failure itself is what Warm returns.
var errWarmAbandoned = errors.New("warm-up abandoned")

// warmTimeout bounds a whole warm-up: a target that does not answer at
// prepare time gets its connections on demand instead, and the executor
// is not late to report ready.
const warmTimeout = 2 * time.Second

// warmParallelism is how many warm-up dials run at once: enough to open a
// few hundred connections in milliseconds without a burst of handshakes
// the target would have to queue.
const warmParallelism = 16

// warm dials until the pool holds n connections (or maxConns), all by
// deadline, and returns how many it opened. The first failed dial ends
// the warm-up: the others would most likely fail alike.
func (p *hostPool) warm(n int, deadline time.Time) (int, error) {
	p.mu.Lock()
	want := min(n, p.maxConns) - p.open
	p.open += max(want, 0) // reserved, as dialFor does, so racing dials respect maxConns
	p.mu.Unlock()
	if want <= 0 {
		return 0, nil
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards opened and first
		opened int
		first  error
	)
	dialOne := func() {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		var pc *pconn
		err := errWarmAbandoned
		if !failed {
			pc, err = p.connect(deadline)
		}
		if err != nil {
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
			p.mu.Lock()
			p.open-- // the reservation, unused
			p.mu.Unlock()
			return
		}
		mu.Lock()
		opened++
		mu.Unlock()
		p.put(pc, 0)
	}
	slots := make(chan struct{}, warmParallelism)
	for range want {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			dialOne()
		}()
	}
	wg.Wait()
	return opened, first
}
