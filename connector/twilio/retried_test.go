package twilio_test

import "github.com/cityhealth/bridge/queue"

// retried says what the queue does with err (queue.Classify, through the
// typed errors' Permanent method): true when a retry may still fix it.
func retried(err error) bool { return err != nil && !queue.IsPermanent(queue.Classify(err)) }
