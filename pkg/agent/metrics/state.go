package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// appKey identifies an application: its namespace and name.
type appKey struct{ namespace, name string }

// appInfo is what SetApp last recorded of an application, its repo and
// destination server already turned into label values.
type appInfo struct {
	app                                 App
	syncStatus, healthStatus, operation string
	autoSync                            bool
}

// appConditions is what SetConditions last recorded of an application:
// the number of conditions of each type.
type appConditions struct {
	app    App
	counts map[string]int
}

// clusterInfo is what SetCluster last recorded of a cluster.
type clusterInfo struct {
	server, name, k8sVersion string
	connected                bool
}

// stateCollector serves the series that describe current state rather
// than count events. It keeps one entry per application and cluster and
// builds the series at scrape time, so replacing an entry can never leave
// a series with stale label values behind.
type stateCollector struct {
	appInfo, appCondition         *prometheus.Desc
	clusterInfo, clusterConnected *prometheus.Desc

	mu         sync.RWMutex
	apps       map[appKey]appInfo
	conditions map[appKey]appConditions
	clusters   map[string]clusterInfo
}

func newStateCollector() *stateCollector {
	return &stateCollector{
		appInfo: prometheus.NewDesc("argocd_app_info",
			"Information about the application: always 1, its state is in the labels.",
			[]string{"namespace", "name", "project", "autosync_enabled", "repo", "dest_server", "dest_namespace", "sync_status", "health_status", "operation"}, nil),
		appCondition: prometheus.NewDesc("argocd_app_condition",
			"Number of the application's current status conditions of each type.",
			[]string{"namespace", "name", "project", "condition"}, nil),
		clusterInfo: prometheus.NewDesc("argocd_cluster_info",
			"Information about a destination cluster: always 1.",
			[]string{"server", "k8s_version", "name"}, nil),
		clusterConnected: prometheus.NewDesc("argocd_cluster_connection_status",
			"Whether the destination cluster is reachable: 1 if so, else 0.",
			[]string{"server", "k8s_version"}, nil),
		apps:       map[appKey]appInfo{},
		conditions: map[appKey]appConditions{},
		clusters:   map[string]clusterInfo{},
	}
}

func (c *stateCollector) setApp(info appInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apps[appKey{info.app.Namespace, info.app.Name}] = info
}

func (c *stateCollector) setConditions(a App, types []string) {
	key := appKey{a.Namespace, a.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(types) == 0 {
		delete(c.conditions, key)
		return
	}
	counts := map[string]int{}
	for _, t := range types {
		counts[t]++
	}
	c.conditions[key] = appConditions{app: a, counts: counts}
}

func (c *stateCollector) deleteApp(namespace, name string) {
	key := appKey{namespace, name}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.apps, key)
	delete(c.conditions, key)
}

func (c *stateCollector) setCluster(info clusterInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clusters[info.server] = info
}

func (c *stateCollector) deleteCluster(server string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.clusters, server)
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.appInfo
	ch <- c.appCondition
	ch <- c.clusterInfo
	ch <- c.clusterConnected
}

// Collect implements prometheus.Collector. A label value that is not
// valid UTF-8 fails only its own series; the registry reports it.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range c.apps {
		a := s.app
		gauge(c.appInfo, 1, a.Namespace, a.Name, a.Project, boolLabel(s.autoSync),
			a.Repo, a.DestServer, a.DestNamespace, s.syncStatus, s.healthStatus, s.operation)
	}
	for _, s := range c.conditions {
		for t, n := range s.counts {
			gauge(c.appCondition, float64(n), s.app.Namespace, s.app.Name, s.app.Project, t)
		}
	}
	for _, s := range c.clusters {
		connected := 0.0
		if s.connected {
			connected = 1
		}
		gauge(c.clusterInfo, 1, s.server, s.k8sVersion, s.name)
		gauge(c.clusterConnected, connected, s.server, s.k8sVersion)
	}
}
