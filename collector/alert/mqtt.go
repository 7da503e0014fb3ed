package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTState is the retained message on {prefix}/alerts/{enterprise}: every
// alert of the enterprise firing. When none is left the topic gets an empty
// retained message, which clears it at the broker.
type MQTTState struct {
	Enterprise string    `json:"enterprise"`
	UpdatedAt  time.Time `json:"updated_at"`
	Alerts     []Alert   `json:"alerts"`
}

// MQTTNotifier publishes each enterprise's firing alerts, retained, at QoS 1.
// Each message is the enterprise's whole state, so a lost or repeated one
// heals with the next.
type MQTTNotifier struct {
	prefix string
	resend time.Duration
	opt    Delivery
	client mqtt.Client

	connectOnce sync.Once
	connect     mqtt.Token
}

// NewMQTT builds the notifier; it connects on its first notification.
func NewMQTT(c MQTTConfig, clientID, password string) *MQTTNotifier {
	opts := mqtt.NewClientOptions().
		AddBroker(c.Broker).
		SetClientID(clientID).
		SetUsername(c.Username).
		SetPassword(password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second)
	return &MQTTNotifier{prefix: c.TopicPrefix, resend: c.Resend, opt: c.Delivery, client: mqtt.NewClient(opts)}
}

// Name is "mqtt".
func (m *MQTTNotifier) Name() string { return "mqtt" }

// ResendInterval republishes the firing alerts now and then, so a broker
// that lost its retained messages gets them back.
func (m *MQTTNotifier) ResendInterval() time.Duration { return m.resend }

// DeliveryOptions are the configured timeout, retries and queue.
func (m *MQTTNotifier) DeliveryOptions() Delivery { return m.opt }

// Topic is where an enterprise's alerts are retained.
func (m *MQTTNotifier) Topic(enterprise string) string { return m.prefix + "/alerts/" + enterprise }

// Notify publishes the enterprise's state once.
func (m *MQTTNotifier) Notify(ctx context.Context, n *Notification) error {
	m.connectOnce.Do(func() { m.connect = m.client.Connect() })
	select {
	case <-m.connect.Done(): // keeps retrying in the background until it connects
	case <-ctx.Done():
		return fmt.Errorf("connect to the broker: %w", ctx.Err())
	}
	// Publishing while disconnected would leave the message in paho's
	// buffer, to be sent after later ones; fail instead and let the
	// worker retry in order.
	if !m.client.IsConnectionOpen() {
		return errors.New("not connected to the broker")
	}
	var payload []byte
	if len(n.Firing) > 0 {
		var err error
		payload, err = json.Marshal(MQTTState{Enterprise: n.Alert.Enterprise, UpdatedAt: n.At.UTC(), Alerts: n.Firing})
		if err != nil {
			return &permanentError{fmt.Errorf("encode mqtt alert state: %w", err)}
		}
	}
	tok := m.client.Publish(m.Topic(n.Alert.Enterprise), 1, true, payload)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", m.Topic(n.Alert.Enterprise), ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", m.Topic(n.Alert.Enterprise), err)
	}
	return nil
}

// Close disconnects.
func (m *MQTTNotifier) Close() error {
	m.client.Disconnect(250)
	return nil
}
