# Copyright (c) 2026, TrackFlow developers
# License: AGPL-3.0. See license.txt

import json

import frappe
from frappe import _
from frappe.model.document import Document

from trackflow.engine.errors import ValidationError
from trackflow.ledger import model_spec


class AttributionModel(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		active: DF.Check
		built_in: DF.Check
		description: DF.SmallText | None
		engine_model: DF.Literal[
			"first_touch",
			"last_touch",
			"last_non_direct",
			"linear",
			"time_decay",
			"position_based",
			"j_shaped",
			"inverse_j",
			"w_shaped",
			"full_path",
			"custom",
			"markov",
			"shapley",
		]
		fit_data: DF.JSON | None
		fitted_at: DF.Datetime | None
		journeys_used: DF.Int
		lookback_days: DF.Int
		model_name: DF.Data
		parameters: DF.JSON | None
		sufficiency: DF.SmallText | None
		sufficient: DF.Check
	# end: auto-generated types

	def validate(self):
		try:
			params = json.loads(self.parameters) if isinstance(self.parameters, str) else self.parameters
		except ValueError:
			frappe.throw(_("Parameters must be valid JSON, e.g. {0}").format('{"first": 0.3, "last": 0.3}'))
		if params is not None and not isinstance(params, dict):
			frappe.throw(_("Parameters must be a JSON object"))
		self.parameters = json.dumps(params or {}, sort_keys=True)
		try:
			spec = model_spec(self, 90)
		except ValidationError as e:
			frappe.throw(str(e), title=_("Invalid Attribution Model"))
		if self.has_value_changed("engine_model") and not self.is_new():
			self.fit_data, self.fitted_at, self.sufficient = None, None, 0  # a fit belongs to its model
		self.description = self.description or str(spec)

	def on_trash(self):
		if self.built_in:
			frappe.throw(_("Built-in models cannot be deleted; untick Active instead"))
