package runtime

import (
	"bytes"
	"os"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"
)

// processHealth samples this process's CPU, memory and goroutines. CPU is a
// rate, so each sample covers the time since the previous one.
type processHealth struct {
	lastCPU  time.Duration
	lastWall time.Time
}

func newProcessHealth() *processHealth {
	return &processHealth{lastCPU: cpuTime(), lastWall: time.Now()}
}

// sample returns the CPU used since the previous sample in percent of one
// core (so 150 means one and a half cores), the resident set size, and the
// goroutine count.
func (p *processHealth) sample() (cpuPercent float64, rss int64, goroutines int) {
	cpu, now := cpuTime(), time.Now()
	if wall := now.Sub(p.lastWall); wall > 0 {
		cpuPercent = 100 * float64(cpu-p.lastCPU) / float64(wall)
	}
	p.lastCPU, p.lastWall = cpu, now
	return cpuPercent, residentBytes(), goroutine()
}

func goroutine() int { return goruntime.NumGoroutine() }

// cpuTime is the user plus system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentBytes reads the current RSS from /proc/self/statm (Linux, where
// executors run); elsewhere it falls back to the peak RSS from getrusage.
func residentBytes() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if fields := bytes.Fields(b); len(fields) >= 2 {
			if pages, err := strconv.ParseInt(string(fields[1]), 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}
