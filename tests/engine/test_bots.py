"""Bot and preview detection (crawler-user-agents plus preview, HEAD and prefetch rules) and UA parsing."""

import re
import time

import crawleruseragents
import pytest

from trackflow.engine import bots

PEOPLE = {
	"chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
	"ipad": "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"facebook app": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.40.98;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5]",
	"instagram app": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone14,5; iOS 17_5; en_US)",
	"linkedin app": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.7944",
	"samsung": "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
	"edge": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
}

PREVIEWS = {
	"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)": "preview:Slackbot-LinkExpanding",
	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)": "preview:facebookexternalhit",
	"Twitterbot/1.0": "preview:Twitterbot",
	"WhatsApp/2.23.20.0 A": "preview:WhatsApp",
	"TelegramBot (like TwitterBot)": "preview:TelegramBot",
	"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)": "preview:Discordbot",
	"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)": "preview:LinkedInBot",
	"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5": "preview:SkypeUriPreview",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "preview:Googlebot",
	"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)": "preview:Microsoft Office",
	"Pinterestbot/1.0": "preview:Pinterestbot",
	"Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)": "preview:Cardyb",
}


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_people_are_not_bots(name):
	assert bots.is_bot("GET", PEOPLE[name], {"accept": "text/html"}) == (False, None)


@pytest.mark.parametrize("agent", sorted(PREVIEWS))
def test_link_previews_are_bots_with_a_named_reason(agent):
	assert bots.is_bot("GET", agent, {}) == (True, PREVIEWS[agent])


def test_every_example_of_the_crawler_list_is_detected():
	examples = [i for e in crawleruseragents.CRAWLER_USER_AGENTS_DATA for i in e.get("instances", [])]
	assert len(examples) > 1000
	missed = [ua for ua in examples if not bots.is_bot("GET", ua)[0]]
	assert missed == []


def test_fast_matcher_agrees_with_the_plain_pattern_list():
	"""The trie and the required-text shortcut are optimisations: same answers as the list itself."""
	plain = [re.compile(e["pattern"]) for e in crawleruseragents.CRAWLER_USER_AGENTS_DATA]
	examples = [i for e in crawleruseragents.CRAWLER_USER_AGENTS_DATA for i in e.get("instances", [])]
	for ua in [*examples, *PEOPLE.values(), "xWget", "wgeT", "Mozilla Claudebot", "SSL Labs x"]:
		fast = bots._CRAWLER_LITERALS.search(ua) or any(
			required in ua and p.search(ua) for required, p in bots._CRAWLER_REGEXES
		)
		assert bool(fast) == any(p.search(ua) for p in plain), ua


def test_required_text_extraction():
	assert bots._required_text("[cC]rawler") == "rawler"
	assert bots._required_text("Ahrefs(Bot|SiteAudit)") == "Ahrefs"
	assert bots._required_text("Automaton|Newsify") == ""
	assert bots._required_text("ab?cdef") == "cdef"
	assert bots._required_text("^HTTPie\\/") == "HTTPie"


@pytest.mark.parametrize("method", ["HEAD", "head"])
def test_head_requests_are_bots(method):
	assert bots.is_bot(method, PEOPLE["chrome"], {}) == (True, "head")


@pytest.mark.parametrize(
	"headers, reason",
	[
		({"purpose": "prefetch"}, "prefetch:purpose"),
		({"Sec-Purpose": "prefetch;prerender"}, "prefetch:sec-purpose"),
		({"x-moz": "prefetch"}, "prefetch:x-moz"),
		({"X-Purpose": "preview"}, "prefetch:x-purpose"),
	],
)
def test_prefetch_headers_are_bots(headers, reason):
	assert bots.is_bot("GET", PEOPLE["chrome"], headers) == (True, reason)


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_empty_user_agent_is_a_bot(agent):
	assert bots.is_bot("GET", agent, {}) == (True, "empty-user-agent")


def test_is_bot_is_cheap():
	agents = list(PEOPLE.values())
	start = time.perf_counter()
	for _ in range(200):
		for ua in agents:
			bots.is_bot("GET", ua, {"accept": "*/*"})
	per_call = (time.perf_counter() - start) / (200 * len(agents))
	assert per_call < 50e-6  # cached: ~1 us; a generous bound for slow CI machines


def test_parse_user_agent():
	assert bots.parse_user_agent(PEOPLE["chrome"]) == bots.UserAgentInfo(
		"Chrome", "126", "Windows", None, "desktop"
	)
	iphone = bots.parse_user_agent(PEOPLE["iphone"])
	assert (iphone.browser, iphone.os, iphone.device, iphone.device_type) == (
		"Mobile Safari",
		"iOS",
		"iPhone",
		"mobile",
	)
	assert bots.parse_user_agent(PEOPLE["ipad"]).device_type == "tablet"
	assert bots.parse_user_agent(next(iter(PREVIEWS))).device_type == "bot"
	assert bots.parse_user_agent("").device_type == "bot"  # an empty agent is a bot (is_bot's rule)
	assert bots.parse_user_agent("Foo/1.0") == bots.UserAgentInfo(None, None, None, None, "other")
