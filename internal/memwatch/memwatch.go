// Package memwatch measures how much heap a streaming writer's producer
// holds, for tests that check memory stays flat however many rows an
// export streams.
package memwatch

import (
	"io"
	"runtime"
	"runtime/debug"
)

// sampleEvery is how many bytes pass between two heap samples: often
// enough to see a growing buffer, rarely enough that ReadMemStats (which
// stops the world) does not dominate.
const sampleEvery = 256 << 10

// PeakHeap runs produce with a writer that discards what it is given and
// samples the live heap as the bytes pass. It returns the peak heap in use
// above the level before produce started, and how many bytes were written.
// The collector runs aggressively meanwhile so the figure is close to what
// is really held, not what the collector has not yet reclaimed.
func PeakHeap(produce func(w io.Writer) error) (peak uint64, written int64, err error) {
	old := debug.SetGCPercent(5)
	defer debug.SetGCPercent(old)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &sampler{base: ms.HeapInuse}
	err = produce(w)
	w.sample()
	return w.peak, w.n, err
}

type sampler struct {
	base, peak uint64
	n, next    int64
}

func (s *sampler) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.n >= s.next {
		s.sample()
		s.next = s.n + sampleEvery
	}
	return len(p), nil
}

func (s *sampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > s.base && ms.HeapInuse-s.base > s.peak {
		s.peak = ms.HeapInuse - s.base
	}
}
