// Package procmem reads a process's memory figures from /proc, for the tests and the bench
// that measure resident memory (Linux only).
package procmem

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Self names the calling process for Field.
const Self = 0

// Field returns a size field of /proc/PID/status (VmRSS, VmHWM, ...) in bytes; pid Self
// reads the calling process.
func Field(pid int, field string) (uint64, error) {
	path := "/proc/self/status"
	if pid != Self {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", path, field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s has no %s", path, field)
}

// PeakRSS returns the calling process's peak resident set (VmHWM) in bytes.
func PeakRSS() (uint64, error) { return Field(Self, "VmHWM") }

// ResetPeakRSS resets the calling process's peak resident set, so PeakRSS measures from here.
func ResetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
