package main

import "context"

func (c *cli) demo(ctx context.Context, args []string) error {
	return usageErrorf("demo", "not available yet")
}
