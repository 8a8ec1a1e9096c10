//go:build !linux

package native

import "context"

func newSleeper(ctx context.Context) sleeper { return newTimerSleeper(ctx) }
