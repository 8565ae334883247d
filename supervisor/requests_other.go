//go:build !linux

package main

// requestWakes is nil off Linux: takeRequests polls.
func requestWakes(dir string, done <-chan struct{}) <-chan struct{} { return nil }
