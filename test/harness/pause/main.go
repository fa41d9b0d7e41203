// Command pause waits for SIGTERM or SIGINT and exits 0. Static, so an image of this one file
// serves the test node both as its sandbox ("pause") image and as a runnable workload.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
