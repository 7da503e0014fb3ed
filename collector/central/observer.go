package central

import (
	"context"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/internal/mqttclient"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// On a shared subscription the broker spreads every enterprise's messages
// over all collector instances, but the live, silence and quality alert
// rules of an enterprise run in the one instance that owns it
// (alerts_shard). So each instance also watches the plain topic with a
// second, light client (QoS 0, nothing stored, nothing acknowledged) and
// hands the alert engine what it sees; the engine keeps what its shard owns.

// observe runs the watching client until ctx is done.
func (s *Service) observe(ctx context.Context) {
	opts, err := mqttclient.Options(s.cfg.MQTT.Broker, s.cfg.MQTT.ClientID+"-observer", s.cfg.MQTT.TLS, s.cfg.MQTT.Auth)
	if err != nil {
		s.log.Error("alert observer", "err", err)
		return
	}
	filter := wire.SubscriptionFilter(s.cfg.MQTT.TopicPrefix)
	opts.SetCleanSession(true).SetAutoReconnect(true).SetMaxReconnectInterval(30 * time.Second).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe(filter, 0, func(_ mqtt.Client, msg mqtt.Message) {
				enterprise, gateway, err := wire.ParseTopic(s.cfg.MQTT.TopicPrefix, msg.Topic())
				if err != nil || len(msg.Payload()) > int(s.cfg.Ingest.MaxPayload) {
					return
				}
				env, err := wire.Decode(msg.Payload())
				if err != nil || env.Gateway != gateway || s.registered(enterprise, gateway) != nil {
					return
				}
				for i := range env.Readings {
					if env.Readings[i].Enterprise != enterprise {
						return
					}
				}
				s.alerts.ObserveReadings(gateway, env.Readings)
				s.alerts.ObserveEvents(gateway, env.Events)
			})
		})
	c := mqtt.NewClient(opts)
	if err := mqttclient.Connect(ctx, c, s.log.With("client", "alert observer")); err != nil {
		return
	}
	<-ctx.Done()
	c.Disconnect(250)
}
