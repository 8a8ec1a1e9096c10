//go:build !unix

package gitsource

import "os/exec"

// killGroupOnCancel keeps exec's default of killing git itself; WaitDelay
// bounds the wait for helpers that outlive it.
func killGroupOnCancel(*exec.Cmd) {}
