// Package redistopo starts real Redis deployments on loopback ports for
// tests: a Cluster of three masters (each with a replica, so that a killed
// master fails over) and a Sentinel setup of one master, one replica and
// three sentinels. Every node is a redis-server process from the Debian
// packages (redis-server runs a sentinel with --sentinel, so the
// redis-sentinel package is not needed), started in a temporary directory
// and killed when the test (or TestMain's cleanup) ends.
//
// Tests that need a topology skip, naming the missing binary, when
// redis-server is not installed, except under CI=true, where they fail: CI
// must not pass by skipping.
package redistopo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels monitor.
const MasterName = "kauthmaster"

// startTimeout bounds how long a node or a whole topology may take to come up.
const startTimeout = 20 * time.Second

// Node is one redis-server process on a loopback port. Kill and Start stop
// and restart it on the same port and directory, so that a test can take a
// node away and give it back.
type Node struct {
	Addr string
	port int
	dir  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// TB is the part of testing.TB the package needs.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Binary returns the path of redis-server, or why it cannot be used.
func Binary() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server is not installed (apt-get install redis-server); Redis topology tests need it")
	}
	return p, nil
}

func need(t TB) string {
	t.Helper()
	p, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", err)
		}
		t.Skip(err.Error())
	}
	return p
}

// freePort asks the kernel for a free loopback port. A Redis Cluster also
// uses port+10000 for its bus, so both must be free.
func freePort(bus bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		b.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port pair for a cluster node")
}

func newNode(t TB, root, name string, bus bool, extra ...string) *Node {
	t.Helper()
	port, err := freePort(bus)
	if err != nil {
		t.Fatalf("redistopo: %v", err)
	}
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("redistopo: %v", err)
	}
	n := &Node{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: dir}
	n.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
	}, extra...)
	return n
}

// Start starts (or restarts) the node and waits until it answers PING.
func (n *Node) Start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	cmd := exec.Command(bin, n.args...)
	cmd.Dir = n.dir
	cmd.SysProcAttr = nodeProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistopo: starting redis-server on %s: %w", n.Addr, err)
	}
	n.cmd = cmd
	go cmd.Wait()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if ping(n.Addr) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redistopo: redis-server on %s did not answer within %v (log: %s)", n.Addr, startTimeout, tail(filepath.Join(n.dir, "redis.log")))
}

// Kill stops the node at once (SIGKILL), as a crash would.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Kill()
	n.cmd = nil
	// Wait until the port is free again, so that a restart can bind it.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ping(n.Addr) == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// Client returns a client of this node alone.
func (n *Node) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second, MaxRetries: -1, DialerRetries: 1})
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("answered %q", strings.TrimSpace(line))
	}
	return nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "none"
	}
	if len(b) > 800 {
		b = b[len(b)-800:]
	}
	return strings.TrimSpace(string(b))
}

func startAll(t TB, nodes []*Node) {
	t.Helper()
	for _, n := range nodes {
		t.Cleanup(n.Kill)
		if err := n.Start(); err != nil {
			t.Fatalf("%v", err)
		}
	}
}

// Cluster is a running Redis Cluster.
type Cluster struct {
	Masters  []*Node
	Replicas []*Node // Replicas[i] replicates Masters[i]
}

// URL returns the cluster's address in the form kauth's Redis store reads:
// redis+cluster://seed?addr=seed2&addr=seed3 (with a path-less URL, since
// a cluster has only database 0), plus query (e.g. "&replicas=1").
func (c *Cluster) URL(query ...string) string {
	u := "redis+cluster://" + c.Masters[0].Addr
	for i, n := range c.Masters[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr
	}
	return u + strings.Join(query, "")
}

// Client returns a cluster client over the seeds.
func (c *Cluster) Client() *redis.ClusterClient {
	addrs := make([]string, len(c.Masters))
	for i, n := range c.Masters {
		addrs[i] = n.Addr
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: time.Second, DialerRetries: 1})
}

// StartCluster starts a cluster of masters masters, each with one replica,
// with a one-second node timeout so that a killed master fails over within
// a few seconds, and waits until every slot is served.
func StartCluster(t TB, masters int) *Cluster {
	t.Helper()
	need(t)
	root := t.TempDir()
	c := &Cluster{}
	extra := []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
		"--cluster-replica-validity-factor", "0", "--cluster-require-full-coverage", "no"}
	var all []*Node
	for i := range masters {
		m := newNode(t, root, fmt.Sprintf("m%d", i), true, append(extra, "--cluster-config-file", "nodes.conf")...)
		r := newNode(t, root, fmt.Sprintf("r%d", i), true, append(extra, "--cluster-config-file", "nodes.conf")...)
		c.Masters = append(c.Masters, m)
		c.Replicas = append(c.Replicas, r)
		all = append(all, m, r)
	}
	startAll(t, all)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.form(ctx, all); err != nil {
		t.Fatalf("redistopo: forming the cluster: %v", err)
	}
	return c
}

func (c *Cluster) form(ctx context.Context, all []*Node) error {
	first := all[0].Client()
	defer first.Close()
	for _, n := range all[1:] {
		host, port, _ := net.SplitHostPort(n.Addr)
		if err := first.ClusterMeet(ctx, host, port).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET %s: %w", n.Addr, err)
		}
	}
	per := 16384 / len(c.Masters)
	for i, m := range c.Masters {
		lo, hi := i*per, (i+1)*per-1
		if i == len(c.Masters)-1 {
			hi = 16383
		}
		mc := m.Client()
		err := mc.ClusterAddSlotsRange(ctx, lo, hi).Err()
		mc.Close()
		if err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE on %s: %w", m.Addr, err)
		}
	}
	// Replicas can follow a master only once they know it.
	for i, r := range c.Replicas {
		mc := c.Masters[i].Client()
		id, err := mc.ClusterMyID(ctx).Result()
		mc.Close()
		if err != nil {
			return err
		}
		rc := r.Client()
		for {
			err = rc.ClusterReplicate(ctx, id).Err()
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		rc.Close()
		if err != nil {
			return fmt.Errorf("CLUSTER REPLICATE on %s: %w", r.Addr, err)
		}
	}
	return c.WaitOK(ctx)
}

// WaitOK waits until every live node reports cluster_state:ok and every
// master has a replica in sync, or ctx is done.
func (c *Cluster) WaitOK(ctx context.Context) error {
	for {
		ok := true
		for _, n := range append(append([]*Node{}, c.Masters...), c.Replicas...) {
			n.mu.Lock()
			alive := n.cmd != nil
			n.mu.Unlock()
			if !alive {
				continue
			}
			nc := n.Client()
			info, err := nc.ClusterInfo(ctx).Result()
			nc.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
				break
			}
		}
		for i, m := range c.Masters {
			if !ok {
				break
			}
			m.mu.Lock()
			alive := m.cmd != nil && c.Replicas[i].cmd != nil
			m.mu.Unlock()
			if !alive {
				continue
			}
			mc := m.Client()
			info, err := mc.Info(ctx, "replication").Result()
			mc.Close()
			ok = err == nil && strings.Contains(info, "role:master") && strings.Contains(info, "state=online")
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ok: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// MasterOf returns the node that currently serves key's slot as master.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Node, error) {
	cc := c.Client()
	defer cc.Close()
	slot, err := cc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			for _, n := range append(append([]*Node{}, c.Masters...), c.Replicas...) {
				if n.Addr == s.Nodes[0].Addr {
					return n, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no master found for slot %d", slot)
}

// Sentinel is a running Sentinel setup: one master, one replica, three
// sentinels monitoring MasterName with a quorum of two.
type Sentinel struct {
	Master, Replica *Node
	Sentinels       []*Node
}

// URL returns the setup's address in the form kauth's Redis store reads:
// redis+sentinel://sentinel1?addr=sentinel2&addr=sentinel3&master_name=NAME,
// plus path (e.g. "/15" for a database) before the query.
func (s *Sentinel) URL(path string) string {
	u := "redis+sentinel://" + s.Sentinels[0].Addr + path + "?master_name=" + MasterName
	for _, n := range s.Sentinels[1:] {
		u += "&addr=" + n.Addr
	}
	return u
}

// Client returns a failover client over the sentinels.
func (s *Sentinel) Client() *redis.Client {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, SentinelAddrs: addrs, DialTimeout: time.Second, DialerRetries: 1})
}

// StartSentinel starts the setup and waits until the sentinels agree on the
// master and the replica is in sync.
func StartSentinel(t TB) *Sentinel {
	t.Helper()
	need(t)
	root := t.TempDir()
	s := &Sentinel{}
	s.Master = newNode(t, root, "master", false)
	s.Replica = newNode(t, root, "replica", false, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.port))
	startAll(t, []*Node{s.Master, s.Replica})
	for i := range 3 {
		n := newNode(t, root, fmt.Sprintf("sentinel%d", i), false)
		conf := filepath.Join(n.dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nprotected-mode no\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n",
			n.port, n.dir, filepath.Join(n.dir, "redis.log"), MasterName, s.Master.port, MasterName, MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatalf("redistopo: %v", err)
		}
		n.args = []string{conf, "--sentinel"}
		s.Sentinels = append(s.Sentinels, n)
	}
	startAll(t, s.Sentinels)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.waitReady(ctx, s.Master.Addr); err != nil {
		t.Fatalf("redistopo: sentinel setup: %v", err)
	}
	return s
}

// waitReady waits until every sentinel names master as the master, sees
// the replica and the other sentinels, and the master's replica is online.
func (s *Sentinel) waitReady(ctx context.Context, master string) error {
	for {
		ready := true
		for _, n := range s.Sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, DialTimeout: time.Second})
			addr, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
			m, err2 := sc.Master(ctx, MasterName).Result()
			sc.Close()
			if err != nil || err2 != nil || len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != master ||
				m["num-slaves"] == "0" || m["num-other-sentinels"] != "2" {
				ready = false
				break
			}
		}
		if ready {
			mc := redis.NewClient(&redis.Options{Addr: master, DialTimeout: time.Second})
			info, err := mc.Info(ctx, "replication").Result()
			mc.Close()
			ready = err == nil && strings.Contains(info, "state=online")
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinels not ready for master %s: %w", master, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// MasterAddr returns the master's address as the first sentinel sees it.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr, DialTimeout: time.Second})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(addr[0], addr[1]), nil
}

// Failover asks the sentinels to promote the replica (SENTINEL FAILOVER)
// and waits until they all name the new master. It returns the new master.
func (s *Sentinel) Failover(ctx context.Context) (string, error) {
	old, err := s.MasterAddr(ctx)
	if err != nil {
		return "", err
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr, DialTimeout: time.Second})
	err = sc.Failover(ctx, MasterName).Err()
	sc.Close()
	if err != nil {
		return "", fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	for {
		now, err := s.MasterAddr(ctx)
		if err == nil && now != old {
			// The old master must have turned replica before writes go on,
			// or a client still on it would write to a node about to be
			// demoted.
			if s.demoted(ctx, old) {
				return now, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("failover did not complete: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Sentinel) demoted(ctx context.Context, addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(info, "role:slave")
}
