package main

import (
	"fmt"
	"io"
	"strings"
)

// progress draws a one-line progress bar on a terminal; when off it prints
// nothing.
type progress struct {
	w     io.Writer
	on    bool
	total int
	shown bool
}

func newProgress(w io.Writer, on bool, total int) *progress {
	p := &progress{w: w, on: on, total: total}
	p.set(0)
	return p
}

const barWidth = 30

func (p *progress) set(n int) {
	if !p.on || p.total == 0 {
		return
	}
	filled := barWidth * n / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d flows", strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled),
		100*n/p.total, n, p.total)
	p.shown = true
}

// done ends the bar's line.
func (p *progress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}
