"""What kind of quantity a question asks for, and what kind an answer gives, by their units.

"How deep is the lake?" asks for a length; "64 square kilometres" is an area, so it cannot answer it,
however sure the reader is: the question asks what the text does not say, or the reader took the wrong
number. A kind is one of KINDS. Only what is certain is judged: an answer with no unit after a number, or a
question that names no kind ("How much?", "How big?", "How high?": a price, a temperature, a height), has
no kind here, and nothing is decided from it.
"""

from __future__ import annotations

import re

KINDS = ("length", "area", "volume", "mass", "time", "speed", "temperature", "money", "percent", "pressure",
         "power", "energy", "voltage", "data", "frequency")

# Unit words (lower case) and the kinds they measure; "pound" is a weight and a currency.
_UNIT_WORDS: dict[str, frozenset[str]] = {}


def _units(kinds: str, *words: str) -> None:
    for word in words:
        _UNIT_WORDS[word] = frozenset(kinds.split()) | _UNIT_WORDS.get(word, frozenset())


_units("length", "mm", "cm", "km", "metre", "metres", "meter", "meters", "millimetre", "millimetres", "millimeter",
       "millimeters", "centimetre", "centimetres", "centimeter", "centimeters", "kilometre", "kilometres", "kilometer",
       "kilometers", "mile", "miles", "ft", "foot", "feet", "inch", "inches", "yard", "yards", "light-year",
       "light-years")
_units("area", "hectare", "hectares", "acre", "acres", "km²", "m²")
_units("volume", "litre", "litres", "liter", "liters", "ml", "gallon", "gallons", "m³")
_units("mass", "mg", "kg", "gram", "grams", "kilogram", "kilograms", "tonne", "tonnes", "ton", "tons", "lb", "lbs",
       "pound", "pounds", "ounce", "ounces", "oz")
_units("time", "second", "seconds", "minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs", "day", "days",
       "week", "weeks", "fortnight", "month", "months", "year", "years", "decade", "decades", "century",
       "centuries", "millennia")
_units("speed", "km/h", "kph", "mph", "m/s", "knot", "knots")
_units("temperature", "°c", "°f", "celsius", "fahrenheit", "kelvin")
_units("money", "$", "€", "£", "¥", "euro", "euros", "dollar", "dollars", "pound", "pounds", "yen", "cent", "cents",
       "pence", "usd", "eur", "gbp", "franc", "francs", "rupee", "rupees", "yuan", "krone", "kroner", "kronor")
_units("percent", "%", "percent", "per cent", "percentage points")
_units("pressure", "bar", "psi", "kpa", "pa", "pascal", "pascals", "atm", "mmhg")
_units("power", "kw", "mw", "gw", "watt", "watts", "kilowatt", "kilowatts", "megawatt", "megawatts", "horsepower")
_units("energy", "kwh", "joule", "joules", "calorie", "calories")
_units("voltage", "volt", "volts", "kv")
_units("data", "kb", "mb", "gb", "tb", "byte", "bytes", "kilobytes", "megabytes", "gigabytes", "terabytes")
_units("frequency", "hz", "khz", "mhz", "ghz")

_NUMBER_WORDS = ("a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
                 "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions",
                 "half", "several", "few", "dozen", "dozens", "quarter", "many", "couple")
_NUMBER = r"(?:\d[\d,.]*|" + "|".join(_NUMBER_WORDS) + r")"
_UNIT = "|".join(sorted((re.escape(word) for word in _UNIT_WORDS), key=len, reverse=True))
# A unit right after a number ("4 hours", "23.5kg", "two weeks", "14 million euros", "20%"), or a currency sign
# before one ("$5", "€ 3.2 million"): a unit word alone ("Miles Davis", "the Bar") measures nothing.
_MEASURE = re.compile(rf"(?<![\w$€£¥])(?:{_NUMBER})(?:[\s-]+(?:{_NUMBER}))*[\s-]*(?:(square|sq\.?|cubic)\s+)?({_UNIT})"
                      r"(?![\w²³])", re.IGNORECASE)
# "per hour", "a year", "/s" anywhere in the answer: a rate ("5,600 miles (9,000 km) per hour", "1 km per year").
_PER_TIME = re.compile(r"(?:/\s*|\b(?:per|an|a|every|each)\s+)(?:hour|second|minute|day|week|month|year|decade|century|"
                       r"h|s)\b", re.IGNORECASE)
_CURRENCY_SIGN = re.compile(r"[$€£¥]\s?\d")

# What "how <adjective>" asks for; "how high", "how big", "how large", "how much" name no single kind.
_HOW: dict[str, frozenset[str]] = {
    "deep": frozenset({"length"}), "tall": frozenset({"length"}), "wide": frozenset({"length"}),
    "thick": frozenset({"length"}), "far": frozenset({"length", "time"}), "long": frozenset({"length", "time"}),
    "heavy": frozenset({"mass"}), "hot": frozenset({"temperature"}), "cold": frozenset({"temperature"}),
    "warm": frozenset({"temperature"}), "fast": frozenset({"speed", "time", "frequency", "data"}),
    "quickly": frozenset({"speed", "time", "frequency", "data"}), "old": frozenset({"time"}),
}
# Nouns that name what "What is the ... X?" asks for.
_NOUNS: dict[str, frozenset[str]] = {
    "depth": frozenset({"length"}), "height": frozenset({"length"}), "length": frozenset({"length", "time"}),
    "width": frozenset({"length"}), "distance": frozenset({"length", "time"}), "altitude": frozenset({"length"}),
    "elevation": frozenset({"length"}), "diameter": frozenset({"length"}), "radius": frozenset({"length"}),
    "weight": frozenset({"mass"}), "mass": frozenset({"mass"}), "temperature": frozenset({"temperature"}),
    "speed": frozenset({"speed", "frequency", "data"}), "pressure": frozenset({"pressure"}),
    "area": frozenset({"area"}),
    "age": frozenset({"time"}), "duration": frozenset({"time"}), "wage": frozenset({"money"}),
    "salary": frozenset({"money"}), "price": frozenset({"money"}), "cost": frozenset({"money"}),
    "fee": frozenset({"money"}), "fine": frozenset({"money"}), "voltage": frozenset({"voltage"}),
    "percentage": frozenset({"percent"}), "percent": frozenset({"percent"}),
}
_HOW_ASKS = re.compile(r"\bhow (" + "|".join(_HOW) + r")\b")
_WHAT_ASKS = re.compile(r"^\W*(?:what|which)(?:\s+(?:is|was|are|were|'s|will be))?"
                        r"(?:\s+(?:the|its|their|his|her|a|an))?(?:\s+[\w-]+){0,3}?\s+(" + "|".join(_NOUNS) + r")s?\b")
_HOW_MANY_UNIT = re.compile(rf"\bhow many (?:(square|cubic)\s+)?({_UNIT})\b")
_MONEY_VERBS = re.compile(r"\bhow much\b.*\b(cost|costs|costing|pay|pays|paid|paying|spend|spends|spent|earn|earns|"
                          r"earned|charge|charges|charged|raise|raised|worth|fee|price|wage|salary)\b")
_WEIGH = re.compile(r"\bhow much\b.*\bweigh(s|ed)?\b")
# Questions whose words look like a kind but ask for something else: "how far below the average" (a gap),
# "land mass" (an area), "how much time" (not money), "how much of" (a share).
_NO_KIND = re.compile(r"\bhow far\b.*\b(?:below|above|behind|ahead|short|debt|budget)\b|\bland ?mass\b|"
                      r"\bhow much (?:time|of)\b")
# A question about a change may be answered by a share ("By how much did the length fall?" "11 per cent").
_CHANGE = re.compile(r"\b(by how much|increase\w*|decrease\w*|rise|rose|risen|rises|fall|fell|fallen|falls|drop\w*|"
                     r"grow\w*|grew|shrink\w*|shrank|reduc\w*|cut|chang\w*|more|less|higher|lower|than|compared)\b")


def answer_kinds(answer: str) -> frozenset[str]:
    """The kinds of every quantity the answer measures (empty when it measures nothing certain)."""
    kinds: set[str] = set()
    for match in _MEASURE.finditer(answer):
        shape, unit = match.group(1), match.group(2).lower()
        if shape is not None and unit in _UNIT_WORDS and "length" in _UNIT_WORDS[unit]:
            kinds.add("area" if shape.lower().startswith(("square", "sq")) else "volume")
        else:
            kinds |= _UNIT_WORDS[unit]
    if _CURRENCY_SIGN.search(answer):
        kinds.add("money")
    if kinds & {"length", "data"} and _PER_TIME.search(answer):  # a distance or an amount of data per time
        kinds.add("speed")
    return frozenset(kinds)


def asked_kinds(question: str) -> frozenset[str]:
    """The kinds of quantity the question asks for (empty when it names none for certain)."""
    lowered = question.lower().strip()
    if _NO_KIND.search(lowered):
        return frozenset()
    if match := _HOW_MANY_UNIT.search(lowered):
        kinds = _UNIT_WORDS[match.group(2)]
        if match.group(1) is not None and "length" in kinds:
            return frozenset({"area"}) if match.group(1) == "square" else frozenset({"volume"})
        # "How many kilometres does the region cover?" is answered in km²: people name an area by its length unit.
        return kinds | {"area"} if "length" in kinds else kinds
    if _WEIGH.search(lowered):
        return frozenset({"mass"})
    if _MONEY_VERBS.search(lowered):
        return frozenset({"money"})
    if match := _HOW_ASKS.search(lowered):
        return _HOW[match.group(1)]
    if match := _WHAT_ASKS.search(lowered):
        return _NOUNS[match.group(1)]
    return frozenset()


def contradicts(question: str, answer: str) -> bool:
    """True when the answer is a quantity of another kind than the question asks for ("How deep?" "64 square
    kilometres"; "What is the maximum working pressure?" "4 hours"). A share answers a question about money (a
    share of a budget) or about a change ("By how much did the average length fall?" "11 per cent")."""
    asked = asked_kinds(question)
    if not asked:
        return False
    given = answer_kinds(answer)
    if not given or given & asked:
        return False
    return not (given == {"percent"} and ("money" in asked or _CHANGE.search(question.lower())))
