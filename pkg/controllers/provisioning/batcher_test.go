package provisioning_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/provisioning"
)

// timerClock is a fake clock that reports every timer the batcher arms, so a test steps the
// clock only once the batcher has (re)armed its idle timer: a step that raced ahead of the
// re-arm would move the timer's deadline and make the test flaky.
type timerClock struct {
	*clocktesting.FakeClock
	armed chan time.Duration
}

func newTimerClock() *timerClock {
	return &timerClock{FakeClock: clocktesting.NewFakeClock(time.Now()), armed: make(chan time.Duration, 100)}
}

func (c *timerClock) NewTimer(d time.Duration) clock.Timer {
	t := c.FakeClock.NewTimer(d)
	c.armed <- d
	return t
}

// expectArmed waits for the batcher to arm timers of these durations, in this order.
func (c *timerClock) expectArmed(g Gomega, ds ...time.Duration) {
	for _, d := range ds {
		g.Eventually(c.armed).Should(Receive(Equal(d)))
	}
}

const (
	idle    = time.Second
	maxWait = 10 * time.Second
)

func startWait(ctx context.Context, b *provisioning.Batcher) chan bool {
	done := make(chan bool, 1)
	go func() { done <- b.Wait(ctx) }()
	return done
}

func TestBatcherSingleTriggerEndsAfterIdle(t *testing.T) {
	g := NewWithT(t)
	clk := newTimerClock()
	b := provisioning.NewBatcher(clk, idle, maxWait)
	// A trigger that comes before Wait is not lost.
	b.Trigger()
	done := startWait(context.Background(), b)
	clk.expectArmed(g, maxWait, idle)

	clk.Step(idle - time.Millisecond)
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	clk.Step(time.Millisecond)
	g.Eventually(done).Should(Receive(BeTrue()))
	g.Expect(clk.HasWaiters()).To(BeFalse(), "timers are stopped once the batch ends")
}

func TestBatcherWaitsForTheFirstTrigger(t *testing.T) {
	g := NewWithT(t)
	clk := newTimerClock()
	b := provisioning.NewBatcher(clk, idle, maxWait)
	done := startWait(context.Background(), b)
	clk.Step(time.Hour)
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	g.Expect(clk.HasWaiters()).To(BeFalse())

	b.Trigger()
	clk.expectArmed(g, maxWait, idle)
	clk.Step(idle)
	g.Eventually(done).Should(Receive(BeTrue()))
}

func TestBatcherTriggersExtendUpToMax(t *testing.T) {
	g := NewWithT(t)
	clk := newTimerClock()
	b := provisioning.NewBatcher(clk, idle, maxWait)
	b.Trigger()
	done := startWait(context.Background(), b)
	clk.expectArmed(g, maxWait, idle)

	// A trigger every 900ms keeps the batch open past several idle windows...
	step := 900 * time.Millisecond
	for range 11 {
		clk.Step(step)
		g.Expect(done).NotTo(Receive())
		b.Trigger()
		clk.expectArmed(g, idle)
	}
	// ... until the max window (9.9s so far, the idle timer would fire at 10.9s).
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	clk.Step(maxWait - 11*step)
	g.Eventually(done).Should(Receive(BeTrue()))
}

func TestBatcherTriggerAfterIdleStartsANewBatch(t *testing.T) {
	g := NewWithT(t)
	clk := newTimerClock()
	b := provisioning.NewBatcher(clk, idle, maxWait)
	b.Trigger()
	done := startWait(context.Background(), b)
	clk.expectArmed(g, maxWait, idle)
	clk.Step(idle)
	g.Eventually(done).Should(Receive(BeTrue()))

	done = startWait(context.Background(), b)
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	b.Trigger()
	clk.expectArmed(g, maxWait, idle)
	clk.Step(idle)
	g.Eventually(done).Should(Receive(BeTrue()))
}

func TestBatcherContextCancel(t *testing.T) {
	g := NewWithT(t)
	clk := newTimerClock()
	b := provisioning.NewBatcher(clk, idle, maxWait)

	// Before any trigger.
	ctx, cancel := context.WithCancel(context.Background())
	done := startWait(ctx, b)
	cancel()
	g.Eventually(done).Should(Receive(BeFalse()))

	// In the middle of a batch.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	b.Trigger()
	done = startWait(ctx, b)
	clk.expectArmed(g, maxWait, idle)
	cancel()
	g.Eventually(done).Should(Receive(BeFalse()))
	g.Eventually(clk.HasWaiters).Should(BeFalse())
}
