// Memory bomb through goroutines: the memory cap kills the program (memory_limit).
package main

import "time"

func main() {
	for {
		go func() {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			time.Sleep(time.Hour)
			_ = b
		}()
	}
}
