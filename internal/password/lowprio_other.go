//go:build !linux

package password

import "os/exec"

// workerNice is only applied on Linux.
func workerNice() int { return 0 }

// StartLowPriority starts cmd. Off Linux it keeps the normal priority: the
// worker process still has its own scheduler and heap.
func StartLowPriority(cmd *exec.Cmd) error { return cmd.Start() }

func lowerGroupPriority(int) {}
