package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"
)

// memCgroup is a memory cgroup with a limit, in which pullguard runs as it does in its pod:
// the kernel charges it for its heap and for the page cache it touches (its own binary
// included), reclaims that cache under the limit, and OOM-kills only when reclaim fails.
// VmHWM cannot tell those apart; the cgroup's OOM kill count can.
type memCgroup struct {
	dir   string
	limit int64

	mu       sync.Mutex
	peakRSS  int64 // largest anonymous charge seen (memory.stat rss)
	stop     chan struct{}
	sampling sync.WaitGroup
}

// memoryHierarchy is where the cgroup v1 memory controller is mounted on this machine (the
// bench's machines run it; a kubelet on cgroup v1 sets memory.limit_in_bytes there too).
const memoryHierarchy = "/sys/fs/cgroup/memory"

// newMemCgroup creates a cgroup limited to limit ("256Mi"), with swap off as on a node.
func newMemCgroup(limit string) (*memCgroup, error) {
	q, err := resource.ParseQuantity(limit)
	if err != nil {
		return nil, fmt.Errorf("-memory-limit %q: %w", limit, err)
	}
	if _, err := os.Stat(filepath.Join(memoryHierarchy, "memory.limit_in_bytes")); err != nil {
		return nil, fmt.Errorf("-memory-limit needs the cgroup v1 memory controller at %s: %w", memoryHierarchy, err)
	}
	c := &memCgroup{dir: filepath.Join(memoryHierarchy, fmt.Sprintf("pullguard-bench-%d", os.Getpid())), limit: q.Value(), stop: make(chan struct{})}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"} {
		err := os.WriteFile(filepath.Join(c.dir, f), []byte(strconv.FormatInt(c.limit, 10)), 0o644)
		if err != nil && !(f == "memory.memsw.limit_in_bytes" && errors.Is(err, os.ErrNotExist)) {
			c.remove()
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return c, nil
}

// command returns path and args wrapped so that the process joins the cgroup before it
// runs: everything it allocates, and every page of its binary it touches, is charged there.
// The binary is first dropped from the page cache, so its pages are charged to the cgroup
// as on a node that has just pulled the image, not to whoever built it.
func (c *memCgroup) command(path string, args []string) (string, []string) {
	if f, err := os.Open(path); err == nil {
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		f.Close()
	}
	script := fmt.Sprintf(`echo $$ > %s && exec "$0" "$@"`, filepath.Join(c.dir, "cgroup.procs"))
	return "/bin/sh", append([]string{"-c", script, path}, args...)
}

// sample records the cgroup's anonymous memory every 50 ms until done.
func (c *memCgroup) sample() {
	c.sampling.Add(1)
	go func() {
		defer c.sampling.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, ok := c.stat("rss"); ok {
				c.mu.Lock()
				c.peakRSS = max(c.peakRSS, rss)
				c.mu.Unlock()
			}
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// cgroupReport is what the kernel saw of pullguard under its limit.
type cgroupReport struct {
	limit, peak, peakRSS int64 // bytes: the limit, the peak charge (heap and cache), the peak heap and stacks
	oomKills             int64
}

func (r cgroupReport) String() string {
	return fmt.Sprintf("under a %s memory cgroup limit: peak charge %s (page cache included, reclaimable), peak anonymous memory %s, OOM kills %d",
		mib(r.limit), mib(r.peak), mib(r.peakRSS), r.oomKills)
}

func (c *memCgroup) report() cgroupReport {
	r := cgroupReport{limit: c.limit, peak: c.read("memory.max_usage_in_bytes")}
	c.mu.Lock()
	r.peakRSS = c.peakRSS
	c.mu.Unlock()
	if raw, err := os.ReadFile(filepath.Join(c.dir, "memory.oom_control")); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				r.oomKills, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return r
}

func (c *memCgroup) read(file string) int64 {
	raw, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func (c *memCgroup) stat(key string) (int64, bool) {
	raw, err := os.ReadFile(filepath.Join(c.dir, "memory.stat"))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// remove stops sampling and deletes the cgroup (its processes must have exited).
func (c *memCgroup) remove() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.sampling.Wait()
	os.Remove(c.dir)
}
