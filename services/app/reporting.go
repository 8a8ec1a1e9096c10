package app

import (
	"fmt"
	"path/filepath"

	"github.com/loadfleet/loadfleet/services/reporting"
	"github.com/loadfleet/loadfleet/services/reporting/notify"
	"github.com/loadfleet/loadfleet/services/reporting/notify/email"
	"github.com/loadfleet/loadfleet/services/reporting/notify/logsender"
	"github.com/loadfleet/loadfleet/services/reporting/notify/slack"
	"github.com/loadfleet/loadfleet/services/reporting/series"
	"github.com/loadfleet/loadfleet/services/reporting/series/embedded"
)

// seriesStore is a sink that reads back too.
type seriesStore interface {
	series.Sink
	series.Reader
}

func (a *App) initReporting() error {
	ss, err := a.openSeries()
	if err != nil {
		return err
	}
	a.closers = append(a.closers, ss.Close)
	logger := a.logger.With("component", "reporting")
	links, err := a.linkConfig()
	if err != nil {
		return err
	}
	svc := reporting.New(reporting.Config{Links: links, MissingTolerance: a.cfg.Reports.MissingTolerance}, a.control.store, ss, ss, nil, logger, a.registry)
	senders, err := a.senders()
	if err != nil {
		return err
	}
	dispatcher, err := notify.NewDispatcher(a.control.store, senders, notify.DispatcherConfig{},
		svc.MessageRenderer(a.cfg.Notify.ReportBaseURL), a.logger.With("component", "notify"), a.registry)
	if err != nil {
		return fmt.Errorf("%w: notifications: %w", ErrConfig, err)
	}
	svc.SetOutbox(dispatcher)
	svc.Routes(a.mux.ServeMux)
	a.control.reporting = svc
	a.loops = append(a.loops, svc.Run, dispatcher.Run)
	return nil
}

func (a *App) openSeries() (seriesStore, error) {
	logger := a.logger.With("component", "series")
	switch a.cfg.Series.Driver {
	case "", "embedded":
		dir, err := a.dataDir()
		if err != nil {
			return nil, err
		}
		return embedded.New(filepath.Join(dir, "series.db"), logger)
	case "influx":
		return openInflux(a.cfg.Series.Influx, logger, a.registry)
	default:
		return nil, fmt.Errorf("%w: series.driver %q (embedded or influx)", ErrConfig, a.cfg.Series.Driver)
	}
}

// senders are the notification channels: the configured Slack and SMTP,
// or the log for a channel that is not configured.
func (a *App) senders() (map[string]notify.Sender, error) {
	logger := a.logger.With("component", "notify")
	var list []notify.Sender
	if c := a.cfg.Notify.Slack; c.Token != "" {
		s, err := slack.New(slack.Config{Token: c.Token, APIURL: c.APIURL}, logger)
		if err != nil {
			return nil, fmt.Errorf("%w: notify.slack: %w", ErrConfig, err)
		}
		list = append(list, s)
	} else {
		list = append(list, logsender.New("slack", logger))
	}
	if c := a.cfg.Notify.Email; c.Host != "" {
		s, err := email.New(email.Config{Host: c.Host, Port: c.Port, Username: c.Username, Password: c.Password,
			From: c.From, Insecure: c.Insecure}, logger)
		if err != nil {
			return nil, fmt.Errorf("%w: notify.email: %w", ErrConfig, err)
		}
		list = append(list, s)
	} else {
		list = append(list, logsender.New("email", logger))
	}
	return notify.Senders(list...), nil
}
