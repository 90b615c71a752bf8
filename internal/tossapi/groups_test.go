package tossapi

import (
	"testing"
	"time"
)

func TestGroup(t *testing.T) {
	for _, tc := range []struct {
		method, path, want string
	}{
		{"POST", "/oauth2/token", Auth},
		{"GET", "/api/v1/prices", MarketData},
		{"GET", "/api/v1/orderbook", MarketData},
		{"GET", "/api/v1/candles", MarketDataChart},
		{"GET", "/api/v1/stocks", Stock},
		{"GET", "/api/v1/stocks/all", StockAll},
		{"GET", "/api/v1/stocks/005930/warnings", Stock},
		{"GET", "/api/v1/stocks/005930/short-selling", StockTradingTrend},
		{"GET", "/api/v1/exchange-rate", MarketInfo},
		{"GET", "/api/v1/market-calendar/KR", MarketInfo},
		{"GET", "/api/v1/rankings", Ranking},
		{"GET", "/api/v1/market-indicators/prices", MarketIndicatorPrice},
		{"GET", "/api/v1/market-indicators/KOSPI/candles", MarketIndicatorChart},
		{"GET", "/api/v1/market-indicators/KOSPI/investor-trading", MarketIndicator},
		{"GET", "/api/v1/accounts", Account},
		{"GET", "/api/v1/holdings", Asset},
		{"POST", "/api/v1/orders", Order},
		{"POST", "/api/v1/orders/O1/modify", Order},
		{"POST", "/api/v1/orders/O1/cancel", Order},
		{"GET", "/api/v1/orders", OrderHistory},
		{"GET", "/api/v1/orders/O1", OrderHistory},
		{"GET", "/api/v1/buying-power", OrderInfo},
		{"GET", "/api/v1/commissions", OrderInfo},
		{"POST", "/api/v1/conditional-orders", ConditionalOrder},
		{"DELETE", "/api/v1/conditional-orders/C1", ConditionalOrder},
		{"GET", "/api/v1/conditional-orders/C1", ConditionalOrderHistory},
		{"GET", "/api/v1/nothing", ""},
		{"GET", "/api/v2/prices", ""},
		{"GET", "/api/v1/prices/extra", ""},
		{"GET", "/", ""},
	} {
		if got := Group(tc.method, tc.path); got != tc.want {
			t.Errorf("Group(%s %s) = %q; want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestPerSecondPeak(t *testing.T) {
	day := func(h, m int) time.Time { return time.Date(2026, 12, 7, h, m, 0, 0, kst) }
	for _, tc := range []struct {
		group string
		at    time.Time
		want  int
	}{
		{OrderInfo, day(8, 59), 6},
		{OrderInfo, day(9, 0), 3},
		{OrderInfo, day(9, 9), 3},
		{OrderInfo, day(9, 10), 6},
		{Order, day(9, 5), 10},
		{Account, day(9, 5), 1},
		// 09:05 KST is 00:05 UTC: the window is KST whatever the zone.
		{OrderInfo, day(9, 5).UTC(), 3},
		{"NO_SUCH_GROUP", day(12, 0), 0},
	} {
		if got := PerSecond(tc.group, tc.at); got != tc.want {
			t.Errorf("PerSecond(%s, %v) = %d; want %d", tc.group, tc.at, got, tc.want)
		}
	}
}
