"""Write the small sample bundled for `trackflow-attribution demo` (trackflow/engine/data/, seeded)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "trackflow" / "engine" / "data"
CHANNELS = ("paid_search", "organic_search", "email", "paid_social", "referral", "direct")
POPULARITY = (5, 5, 3, 3, 2, 4)
LIFT = {"email": 2.0, "referral": 1.6, "paid_search": 1.3, "paid_social": 0.7}
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def main(journeys: int = 600, seed: int = 11) -> None:
	rng = random.Random(seed)
	DATA.mkdir(parents=True, exist_ok=True)
	tp = ["journey_id,timestamp,channel,touchpoint_id,milestone"]
	cv = ["journey_id,timestamp,value,conversion_id,currency"]
	for j in range(1, journeys + 1):
		jid = f"J{j:04d}"
		length = min(1 + int(rng.expovariate(1 / 3)), 12)
		when = START + timedelta(days=rng.uniform(0, 60))
		path = rng.choices(CHANNELS, POPULARITY, k=length)
		times = []
		for _ in path:
			when += timedelta(hours=rng.uniform(1, 96))
			times.append(when)
		rate = 0.22
		for channel in set(path):
			rate *= LIFT.get(channel, 1.0)
		converted = rng.random() < min(rate, 0.9)
		lead = rng.randrange(length) if converted and rng.random() < 0.8 else None
		opportunity = rng.randrange(lead, length) if lead is not None and rng.random() < 0.7 else None
		for i, (channel, ts) in enumerate(zip(path, times, strict=True)):
			marks = [m for m, at in (("lead", lead), ("opportunity", opportunity)) if at == i]
			if converted and i == length - 1 and opportunity is not None:
				marks.append("won")
			tp.append(
				f"{jid},{ts.isoformat(timespec='seconds')},{channel},{jid}-{i + 1:02d},{'|'.join(marks)}"
			)
		if converted:
			value = f"{rng.randrange(5000, 250000) / 100:.2f}"
			cts = times[-1] + timedelta(hours=rng.uniform(0.5, 48))
			cv.append(f"{jid},{cts.isoformat(timespec='seconds')},{value},C{j:04d},USD")
	(DATA / "demo_touchpoints.csv").write_text("\n".join(tp) + "\n")
	(DATA / "demo_conversions.csv").write_text("\n".join(cv) + "\n")
	print(f"{len(tp) - 1} touchpoints, {len(cv) - 1} conversions in {DATA}")


if __name__ == "__main__":
	main()
