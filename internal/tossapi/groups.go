// Package tossapi holds the facts of 토스증권's (Toss Securities') Open API
// that both the toss package and the simulator need: the rate-limit group
// of every endpoint and each group's documented limit.
//
// Toss limits calls per client and per API group ("모든 API 는 클라이언트 ×
// API 그룹 단위로 초당 요청 수(TPS)가 제한됩니다") and tells the current
// limit in X-RateLimit-Limit, which wins over this table ("구체적인 한도
// 수치는 … 사전 공지 없이 조정될 수 있으며, 현재 허용 한도는 응답 헤더로
// 확인할 수 있습니다"). Source: the overview's Rate Limits table
// (openapi.tossinvest.com/openapi-docs/overview.md, mirrored in
// kenshin579/toss-go, docs/api/overview.md) and the "Rate Limits Group"
// line that ends each operation's description in the OpenAPI document
// (REST 1.2.14, kenshin579/toss-go, docs/api/openapi.json).
package tossapi

import (
	"strings"
	"time"
)

// The rate-limit groups.
const (
	Auth                    = "AUTH"
	Account                 = "ACCOUNT"
	Asset                   = "ASSET"
	Stock                   = "STOCK"
	StockAll                = "STOCK_ALL"
	StockTradingTrend       = "STOCK_TRADING_TREND"
	MarketInfo              = "MARKET_INFO"
	MarketData              = "MARKET_DATA"
	MarketDataChart         = "MARKET_DATA_CHART"
	Ranking                 = "RANKING"
	MarketIndicatorPrice    = "MARKET_INDICATOR_PRICE"
	MarketIndicator         = "MARKET_INDICATOR"
	MarketIndicatorChart    = "MARKET_INDICATOR_CHART"
	Order                   = "ORDER"
	OrderHistory            = "ORDER_HISTORY"
	OrderInfo               = "ORDER_INFO"
	ConditionalOrder        = "CONDITIONAL_ORDER"
	ConditionalOrderHistory = "CONDITIONAL_ORDER_HISTORY"
)

// Limit is a group's documented calls per second, and during the peak
// window (09:00 to 09:10 KST) if that differs.
type Limit struct {
	PerSecond int
	Peak      int // 0: the same as PerSecond
}

// limits are the overview's Rate Limits table (REST 1.2.14). Earlier
// versions of the document (1.1.1) listed ORDER 6 with 3 at the peak,
// MARKET_DATA 10 and the chart 5; Toss adjusts them without notice, and
// the X-RateLimit-Limit header of each answer tells the one in force.
var limits = map[string]Limit{
	Auth:                    {PerSecond: 5},
	Account:                 {PerSecond: 1},
	Asset:                   {PerSecond: 5},
	Stock:                   {PerSecond: 5},
	StockAll:                {PerSecond: 1},
	StockTradingTrend:       {PerSecond: 10},
	MarketInfo:              {PerSecond: 3},
	MarketData:              {PerSecond: 15},
	MarketDataChart:         {PerSecond: 20},
	Ranking:                 {PerSecond: 5},
	MarketIndicatorPrice:    {PerSecond: 10},
	MarketIndicator:         {PerSecond: 10},
	MarketIndicatorChart:    {PerSecond: 5},
	Order:                   {PerSecond: 10, Peak: 10}, // 09:00 ~ 09:10 KST: 초당 최대 10회
	OrderHistory:            {PerSecond: 5},
	OrderInfo:               {PerSecond: 6, Peak: 3}, // 09:00 ~ 09:10 KST: 초당 최대 3회
	ConditionalOrder:        {PerSecond: 5},
	ConditionalOrderHistory: {PerSecond: 10},
}

// kst is Korea Standard Time, a fixed zone whatever the machine's TZ.
var kst = time.FixedZone("KST", 9*60*60)

// Peak reports whether t falls in the peak window, 09:00 (inclusive) to
// 09:10 (exclusive) KST, on any day.
func Peak(t time.Time) bool {
	k := t.In(kst)
	return k.Hour() == 9 && k.Minute() < 10
}

// Documented returns group's documented limit, if the table knows group.
func Documented(group string) (Limit, bool) {
	l, ok := limits[group]
	return l, ok
}

// PerSecond returns group's documented calls per second at t, and 0 for a
// group the table does not know.
func PerSecond(group string, t time.Time) int {
	l, ok := limits[group]
	if !ok {
		return 0
	}
	if l.Peak > 0 && Peak(t) {
		return l.Peak
	}
	return l.PerSecond
}

// Group returns the rate-limit group of a call by its method and path, and
// "" for a path Toss does not document. Path segments in braces
// ({symbol}, {orderId}) match any one segment.
func Group(method, path string) string {
	path = "/" + strings.Trim(path, "/")
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	read := method == "GET" || method == "HEAD"
	if path == "/oauth2/token" {
		return Auth
	}
	if len(seg) < 3 || seg[0] != "api" || seg[1] != "v1" {
		return ""
	}
	rest := seg[2:]
	switch rest[0] {
	case "orderbook", "prices", "trades", "price-limits":
		return one(rest, MarketData)
	case "candles":
		return one(rest, MarketDataChart)
	case "stocks":
		switch {
		case len(rest) == 1:
			return Stock
		case len(rest) == 2 && rest[1] == "all":
			return StockAll
		case len(rest) == 3 && rest[2] == "warnings":
			return Stock
		case len(rest) == 3:
			switch rest[2] {
			case "investor-trading", "program-trades", "short-selling", "credit-trades", "securities-lending":
				return StockTradingTrend
			}
		}
		return ""
	case "exchange-rate":
		return one(rest, MarketInfo)
	case "market-calendar":
		if len(rest) == 2 {
			return MarketInfo
		}
		return ""
	case "rankings":
		return one(rest, Ranking)
	case "market-indicators":
		switch {
		case len(rest) == 2 && rest[1] == "prices":
			return MarketIndicatorPrice
		case len(rest) == 3 && rest[2] == "candles":
			return MarketIndicatorChart
		case len(rest) == 3 && rest[2] == "investor-trading":
			return MarketIndicator
		}
		return ""
	case "accounts":
		return one(rest, Account)
	case "holdings":
		return one(rest, Asset)
	case "orders":
		switch {
		case read && len(rest) <= 2:
			return OrderHistory
		case !read && (len(rest) == 1 || (len(rest) == 3 && (rest[2] == "modify" || rest[2] == "cancel"))):
			return Order
		}
		return ""
	case "buying-power", "sellable-quantity", "commissions":
		return one(rest, OrderInfo)
	case "conditional-orders":
		if len(rest) > 3 {
			return ""
		}
		if read {
			return ConditionalOrderHistory
		}
		return ConditionalOrder
	}
	return ""
}

// one returns group if rest is a single segment.
func one(rest []string, group string) string {
	if len(rest) == 1 {
		return group
	}
	return ""
}
