package runtime

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// prestartPool keeps inits started ahead of time for containers with a
// network namespace of their own. Each waits, in fresh namespaces and
// cgroups of its own named .prestart-N, for the configuration of the
// container that takes it, and serves that one container only. Taking one
// spares a start the clone, the exec of the init and the new network
// namespace. A cgroup migration anywhere on the host can stall a clone
// for an RCU grace period.
type prestartPool struct {
	s    *Supervisor
	size int
	log  *slog.Logger
	// wake has room for one value, sent when the pool may need filling.
	wake    chan struct{}
	stopped chan struct{} // closed when fill returns

	mu       sync.Mutex
	ready    []*initProc // guarded by mu
	starting *initProc   // guarded by mu; the init fill waits for
	closed   bool        // guarded by mu
}

// prestartPrefix starts the names of the cgroups of prestarted inits. No
// container name starts with a dot.
const prestartPrefix = ".prestart-"

// newPrestartPool returns a pool that keeps size inits ready. It starts
// filling at the first refill, which Create sends. A fork while a front
// end mounts the tree can hang: a child forked while go-fuse's mount probe
// held a file of the tree open (v2.12.1) stopped in the flush of that
// file. The supervisor, waiting for the fork, never replied to it.
func newPrestartPool(s *Supervisor, size int) *prestartPool {
	p := &prestartPool{s: s, size: size, log: s.log,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	if size <= 0 {
		close(p.stopped)
		return p
	}
	go p.fill()
	return p
}

func (p *prestartPool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take returns a ready init, or nil when there is none. The pool is
// filled again at once only when it is empty: otherwise a replacement
// would take CPU time and the kernel's cgroup lock from the start that
// took the init, so it waits until a run ends (see refill).
func (p *prestartPool) take() *initProc {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.ready) > 0 {
		ip := p.ready[0]
		p.ready = p.ready[1:]
		if !ip.alive() {
			p.log.Warn("prestarted init died while it waited", "pid", ip.pid, "cgroup", ip.cg.path)
			go ip.discard()
			continue
		}
		if len(p.ready) == 0 {
			p.signal()
		}
		return ip
	}
	p.signal()
	return nil
}

// refill makes the pool start inits until it is full again. Create calls
// it, and a run when it ends.
func (p *prestartPool) refill() { p.signal() }

// fill waits for the first refill, then starts inits until size are
// ready, then waits for the next.
func (p *prestartPool) fill() {
	defer close(p.stopped)
	<-p.wake
	for seq := 1; ; {
		p.mu.Lock()
		closed, full := p.closed, len(p.ready) >= p.size
		p.mu.Unlock()
		if closed {
			return
		}
		if full {
			<-p.wake
			continue
		}
		ip, err := p.start(prestartPrefix + strconv.Itoa(seq))
		seq++
		if err != nil {
			p.log.Error("start an init ahead of time", "err", err)
			select {
			case <-p.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		p.mu.Lock()
		p.starting = nil
		if p.closed {
			p.mu.Unlock()
			ip.discard()
			return
		}
		p.ready = append(p.ready, ip)
		p.mu.Unlock()
	}
}

// start starts one init in a new cgroup called name and waits until it
// is ready.
func (p *prestartPool) start(name string) (*initProc, error) {
	cg, err := p.s.cgroup.create(name)
	if err != nil {
		return nil, err
	}
	ip, err := p.s.startInit(cg, true)
	if err != nil {
		cg.destroy()
		return nil, err
	}
	ip.prestarted = true
	p.mu.Lock()
	p.starting = ip
	closed := p.closed
	p.mu.Unlock()
	if closed {
		ip.discard()
		return nil, fmt.Errorf("start init: %w", ErrClosed)
	}
	if err := ip.readReady(); err != nil {
		ip.discard()
		return nil, fmt.Errorf("start init in %s: %w", name, err)
	}
	return ip, nil
}

// close stops filling the pool and ends every init in it.
func (p *prestartPool) close() {
	p.mu.Lock()
	p.closed = true
	ready, starting := p.ready, p.starting
	p.ready = nil
	p.mu.Unlock()
	if starting != nil {
		starting.cg.kill() // ends its wait for the ready report
	}
	p.signal()
	<-p.stopped
	var wg sync.WaitGroup
	for _, ip := range ready {
		wg.Go(func() {
			if err := ip.discard(); err != nil {
				p.log.Error("remove the cgroup of an init started ahead of time",
					"cgroup", ip.cg.path, "err", err)
			}
		})
	}
	wg.Wait()
}

// takeInit returns an init waiting for the configuration of container
// name: one from the pool, in cgroups named after its place in the pool,
// when the container needs a network namespace of its own, else a new
// one in new cgroups called name.
func (s *Supervisor) takeInit(name string, newNet bool) (*initProc, error) {
	if newNet {
		if ip := s.prestart.take(); ip != nil {
			return ip, nil
		}
	}
	cg, err := s.cgroup.create(name)
	if err != nil {
		return nil, err
	}
	ip, err := s.startInit(cg, newNet)
	if err != nil {
		cg.destroy()
		return nil, fmt.Errorf("start init of %s: %w", name, err)
	}
	return ip, nil
}
