package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// httpPost posts JSON to a channel URL: no redirects, a timeout, and an
// error that never quotes the URL (a webhook URL is a secret).
func httpPost(ctx context.Context, c *http.Client, target string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return errors.New("channel URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return errors.New("channel unreachable")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("channel answered HTTP %d", resp.StatusCode)
	}
	return nil
}

func channelClient(c *http.Client) *http.Client {
	out := &http.Client{Timeout: 15 * time.Second}
	if c != nil {
		cp := *c
		out = &cp
		if out.Timeout == 0 {
			out.Timeout = 15 * time.Second
		}
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return out
}

// WebhookSender posts the message as JSON to a generic webhook.
type WebhookSender struct{ client *http.Client }

// NewWebhookSender returns a sender using c (copied).
func NewWebhookSender(c *http.Client) *WebhookSender { return &WebhookSender{client: channelClient(c)} }

// Send posts {"state", "kind", "shop_id", "shop", "title", "summary",
// "since", "affected", "action", "url", "text"}.
func (s *WebhookSender) Send(ctx context.Context, target string, m Message) error {
	return httpPost(ctx, s.client, target, map[string]any{
		"state": m.State, "kind": m.Kind, "shop_id": m.ShopID, "shop": m.ShopName, "title": m.Title, "summary": m.Summary,
		"since": m.Since.UTC().Format(time.RFC3339), "affected": m.Affected, "action": m.Action, "url": m.URL, "text": m.Text(),
	})
}

// SlackSender posts to a Slack-compatible incoming webhook ({"text"}; read
// 2026-12-03 from docs.slack.dev/messaging/sending-messages-using-incoming-webhooks).
type SlackSender struct{ client *http.Client }

// NewSlackSender returns a sender using c (copied).
func NewSlackSender(c *http.Client) *SlackSender { return &SlackSender{client: channelClient(c)} }

// Send posts the message's text with the link in Slack's <url|label> form.
func (s *SlackSender) Send(ctx context.Context, target string, m Message) error {
	text := strings.Replace(m.Text(), m.URL, "<"+m.URL+"|Open in Postback>", 1)
	return httpPost(ctx, s.client, target, map[string]any{"text": text})
}

// SMTPConfig is POSTBACK_SMTP_URL: smtp://user:pass@host:port (STARTTLS
// when the server offers it) or smtps:// (TLS from the start).
type SMTPConfig struct {
	Host     string
	Addr     string
	User     string
	Password string
	TLS      bool
	From     string
}

// ParseSMTPURL reads POSTBACK_SMTP_URL. The error never contains the
// password. from is used when the URL's user is not an address.
func ParseSMTPURL(raw, from string) (*SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("must be smtp://user:pass@host:port or smtps://…")
	}
	c := &SMTPConfig{Host: u.Hostname(), TLS: u.Scheme == "smtps"}
	port := u.Port()
	if port == "" {
		port = "587"
		if c.TLS {
			port = "465"
		}
	}
	c.Addr = net.JoinHostPort(c.Host, port)
	if u.User != nil {
		c.User = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	c.From = from
	if strings.Contains(c.User, "@") {
		c.From = c.User
	}
	if v := u.Query().Get("from"); v != "" {
		c.From = v
	}
	return c, nil
}

// EmailSender sends alerts through an SMTP server.
type EmailSender struct {
	cfg *SMTPConfig
	// dial opens the connection (tests).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewEmailSender returns a sender for cfg.
func NewEmailSender(cfg *SMTPConfig) *EmailSender {
	d := &net.Dialer{Timeout: 15 * time.Second}
	return &EmailSender{cfg: cfg, dial: d.DialContext}
}

// Send mails the message's text to target.
func (s *EmailSender) Send(ctx context.Context, target string, m Message) error {
	if strings.ContainsAny(target, "\r\n") || !strings.Contains(target, "@") {
		return errors.New("not an e-mail address")
	}
	conn, err := s.dial(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return errors.New("SMTP server unreachable")
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if s.cfg.TLS {
		conn = tls.Client(conn, &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12})
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !s.cfg.TLS {
		if err := c.StartTLS(&tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.cfg.User != "" {
		// PlainAuth refuses to send the password over an unencrypted
		// connection to anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.User, s.cfg.Password, s.cfg.Host)); err != nil {
			return errors.New("smtp: authentication failed")
		}
	}
	from := s.cfg.From
	if from == "" {
		from = "postback@localhost"
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp from: %w", err)
	}
	if err := c.Rcpt(target); err != nil {
		return fmt.Errorf("smtp rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	subject := mime.QEncoding.Encode("utf-8", strings.NewReplacer("\r", " ", "\n", " ").Replace(m.Title))
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		from, target, subject, time.Now().UTC().Format(time.RFC1123Z), strings.ReplaceAll(m.Text(), "\n", "\r\n"))
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	return c.Quit()
}
