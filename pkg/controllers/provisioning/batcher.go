package provisioning

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Batcher turns a stream of triggers (pods becoming pending) into batches: a batch starts with
// the first trigger and ends once no trigger came for the idle window, or the max window has
// passed since the first, whichever is sooner. Pods of one burst are so planned together.
type Batcher struct {
	clk       clock.Clock
	idle, max time.Duration
	trigger   chan struct{}
}

// NewBatcher returns a Batcher with the given windows.
func NewBatcher(clk clock.Clock, idle, max time.Duration) *Batcher {
	return &Batcher{clk: clk, idle: idle, max: max, trigger: make(chan struct{}, 1)}
}

// Trigger notes that something changed; it never blocks.
func (b *Batcher) Trigger() {
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

// Wait blocks until a batch is complete; false when ctx ended first.
func (b *Batcher) Wait(ctx context.Context) bool {
	select {
	case <-b.trigger:
	case <-ctx.Done():
		return false
	}
	maxTimer := b.clk.NewTimer(b.max)
	defer maxTimer.Stop()
	idle := b.clk.NewTimer(b.idle)
	defer func() { idle.Stop() }()
	for {
		select {
		case <-b.trigger:
			idle.Stop()
			idle = b.clk.NewTimer(b.idle)
		case <-idle.C():
			return true
		case <-maxTimer.C():
			return true
		case <-ctx.Done():
			return false
		}
	}
}
