package validator

import "context"

// TakeSlot takes one of s's validation slots until release is called, so
// that tests can fill them deterministically.
func (s *Service) TakeSlot(ctx context.Context) (release func(), err error) { return s.acquire(ctx) }
