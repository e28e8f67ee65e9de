"""Per-call cost of the redirect decision, bot detection and user-agent parsing (pure Python, no Redis)."""

import statistics
import time
import timeit

from trackflow.engine import bots
from trackflow.engine.redirect import RedirectRequest, RedirectSettings, decide, prepare_link

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
IPHONE = (
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/17.5 Mobile/15E148 Safari/604.1"
)
HEADERS = {
	"user-agent": CHROME,
	"accept": "text/html,application/xhtml+xml",
	"accept-language": "en-GB,en;q=0.9",
	"referer": "https://news.example.org/post",
	"host": "crm.example.com",
}


def per_call_us(fn, number: int) -> float:
	"""Median of 5 runs, microseconds per call."""
	return statistics.median(t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=5))


def main():
	link = prepare_link(
		"Ab3xK9p",
		"https://shop.example.com/p?ref=1",
		campaign="Spring",
		utm={"source": "newsletter", "medium": "email", "campaign": "spring"},
	)
	ab = prepare_link(
		"Ab3xK9p",
		"https://shop.example.com/p",
		variants=[
			{"label": "A", "destination": "https://shop.example.com/a", "weight": 1},
			{"label": "B", "destination": "https://shop.example.com/b", "weight": 1},
		],
	)
	settings = RedirectSettings(own_domains=("example.com",))
	returning = RedirectRequest(
		"Ab3xK9p", headers=HEADERS, client_ip="203.0.113.9", cookies={"_tf_r": "ab" * 16}, now=time.time()
	)
	new = RedirectRequest("Ab3xK9p", headers=HEADERS, client_ip="2001:db8::1", now=time.time())
	bot = RedirectRequest("Ab3xK9p", headers={"user-agent": "Twitterbot/1.0"}, now=time.time())
	rows = [
		(
			"decide(): returning visitor, own domain (click id appended)",
			lambda: decide(link, returning, settings),
		),
		("decide(): new visitor (cookie minted), IPv6", lambda: decide(link, new, settings)),
		("decide(): A/B link, sticky variant", lambda: decide(ab, returning, settings)),
		("decide(): link-preview bot", lambda: decide(link, bot, settings)),
		("decide(): unknown code (404)", lambda: decide(None, new, settings)),
		("is_bot(): browser, agent seen before (cache hit)", lambda: bots.is_bot("GET", CHROME, HEADERS)),
	]
	for label, fn in rows:
		print(f"{label:<62} {per_call_us(fn, 20_000):8.2f} us")

	agents = [f"{CHROME} build/{i}" for i in range(5000)]
	counter = iter(range(10**9))
	uncached = per_call_us(lambda: bots.classify_user_agent.__wrapped__(agents[next(counter) % 5000]), 2000)
	print(f"{'is_bot(): browser, new agent (no cache), full list scanned':<62} {uncached:8.2f} us")
	uncached_bot = per_call_us(
		lambda: bots.classify_user_agent.__wrapped__("Mozilla/5.0 (compatible; Yeti/1.1)"), 2000
	)
	print(f"{'is_bot(): crawler found in the list (no cache)':<62} {uncached_bot:8.2f} us")

	start = time.perf_counter()
	bots.parse_user_agent(IPHONE)
	cached_parse = per_call_us(lambda: bots.parse_user_agent(IPHONE), 20_000)
	print(
		f"{'parse_user_agent(): first call (import, load rules)':<62} {(time.perf_counter() - start) * 1e6:8.0f} us"
	)
	print(f"{'parse_user_agent(): agent seen before (cache hit)':<62} {cached_parse:8.2f} us")
	counter = iter(range(10**9))
	fresh = per_call_us(lambda: bots.parse_user_agent.__wrapped__(f"{IPHONE} x/{next(counter)}"), 200)
	print(f"{'parse_user_agent(): new agent (no cache)':<62} {fresh:8.2f} us")
	try:
		import ua_parser_rs

		print("  (ua-parser-rs accelerator installed)")
	except ImportError:
		print("  (ua-parser-rs accelerator NOT installed: pure-Python ua-parser)")


if __name__ == "__main__":
	main()
