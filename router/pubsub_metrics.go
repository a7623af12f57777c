package router

import "github.com/prometheus/client_golang/prometheus"

// pubsubCollector exports a pool's pub/sub state, read from the hub at
// scrape time (nothing is counted twice on the message path):
//
//	shardproxy_pubsub_clients{pool}                          subscribed clients
//	shardproxy_pubsub_subscriptions{pool,server,kind}        backend subscriptions per shard
//	shardproxy_pubsub_messages_total{pool,result}            delivered / dropped to clients
//	shardproxy_pubsub_moves_total{pool}                      subscriptions moved to another shard
//
// Clients disconnected for their output buffer are
// shardproxy_client_output_buffer_disconnects_total{class="pubsub"}.
// Its descriptors carry the pool as a constant label, so that each pool's
// collector registers and unregisters on its own.
type pubsubCollector struct {
	p                          *Pool
	clients, subs, msgs, moves *prometheus.Desc
}

var subKindLabels = [3]string{"channel", "pattern", "shard_channel"}

func newPubsubCollector(p *Pool) *pubsubCollector {
	pool := prometheus.Labels{"pool": p.cfg.Name}
	return &pubsubCollector{
		p: p,
		clients: prometheus.NewDesc("shardproxy_pubsub_clients",
			"Client connections with at least one channel, pattern or shard channel subscription.", nil, pool),
		subs: prometheus.NewDesc("shardproxy_pubsub_subscriptions",
			"Subscriptions the proxy holds on a shard's shared subscriber connection, by kind (channel, pattern, shard_channel).",
			[]string{"server", "kind"}, pool),
		msgs: prometheus.NewDesc("shardproxy_pubsub_messages_total",
			"Pub/sub messages written to subscribed clients (delivered), or not because the client was gone or over its output limit (dropped).",
			[]string{"result"}, pool),
		moves: prometheus.NewDesc("shardproxy_pubsub_moves_total",
			"Channels, patterns and shard channels moved to other shards because their placement changed (reload, slot migration, failover).",
			nil, pool),
	}
}

func (c *pubsubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.clients
	ch <- c.subs
	ch <- c.msgs
	ch <- c.moves
}

func (c *pubsubCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.p.hub
	ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(h.subscribed.Load()))
	for srv, n := range h.counts() {
		for k, v := range n {
			ch <- prometheus.MustNewConstMetric(c.subs, prometheus.GaugeValue, float64(v), srv, subKindLabels[k])
		}
	}
	ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.CounterValue, float64(h.delivered.Load()), "delivered")
	ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.CounterValue, float64(h.dropped.Load()), "dropped")
	ch <- prometheus.MustNewConstMetric(c.moves, prometheus.CounterValue, float64(h.moved.Load()))
}
