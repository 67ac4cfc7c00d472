package password

import (
	"os/exec"
	"syscall"
)

// workerNiceStep is how much nicer than the server the worker process
// runs: 10 steps are a weight of 110 against 1024 (sched(7)), so a request
// thread that wakes runs before a hash, while a lone hash still gets a
// whole core. It is relative: a server started at nice 10 puts its worker
// at 19, not at 10 beside itself.
const workerNiceStep = 10

// maxNice is the highest (weakest) nice value Linux has (setpriority(2)).
const maxNice = 19

// niceBelow returns the worker's nice value for a server at nice current:
// current + workerNiceStep, capped at maxNice.
func niceBelow(current int) int {
	return min(current+workerNiceStep, maxNice)
}

// workerNice returns the nice value for a worker of this process, from the
// calling thread's nice value. The raw getpriority(2) system call returns
// 20 - nice (see its "C library/kernel differences").
func workerNice() int {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return niceBelow(0)
	}
	return niceBelow(20 - prio)
}

// StartLowPriority starts cmd in a process group of its own at nice
// workerNice(), workerNiceStep above this process's. On Linux the nice value is per thread: setpriority(2) with
// PRIO_PGRP sets it on every thread of every process of the group, and
// threads created later inherit it from the thread that creates them. The
// child repeats the call once it runs (lowerGroupPriority), for a thread
// its runtime created in between. Raising nice needs no privilege; if it
// fails, the child runs at normal priority, still with its own scheduler
// and heap. The own group also keeps a Ctrl-C meant for the server from
// reaching the worker: it ends when its input does.
func StartLowPriority(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, workerNice())
	return nil
}

// lowerGroupPriority sets nice on every thread of this process, when it
// leads its own process group (as StartLowPriority starts it), so that no
// other process is touched.
func lowerGroupPriority(nice int) {
	if nice <= 0 || syscall.Getpgrp() != syscall.Getpid() {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PGRP, 0, nice)
}
