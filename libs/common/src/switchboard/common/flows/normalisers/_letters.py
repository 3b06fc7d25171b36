"""Spelled letters as speech recognition writes them: Spanish letter names, sound-alike words, radio words.

"be" and "ve", "ce" and "se", "ge" and "je" sound the same on a phone line; a radio word ("be de burro",
"ve de vaca") settles which one the caller meant, and a radio word that names a letter from another sound
family ("eme de nariz") makes the letter unclear.
"""

# Single-token letter names, folded (lower case, no accents, ñ kept).
SINGLE = {
    "a": "A", "ah": "A", "ha": "A",
    "be": "B", "b": "B",
    "ce": "C", "se": "C", "c": "C",
    "de": "D", "d": "D",
    "e": "E",
    "efe": "F", "f": "F",
    "ge": "G", "g": "G", "je": "G",
    "hache": "H", "ache": "H", "h": "H",
    "i": "I",
    "jota": "J", "j": "J", "hota": "J",
    "ka": "K", "k": "K", "ca": "K",
    "ele": "L", "l": "L",
    "eme": "M", "m": "M",
    "ene": "N", "n": "N",
    "eñe": "Ñ", "ñ": "Ñ", "enie": "Ñ",
    "o": "O", "oh": "O",
    "pe": "P", "p": "P",
    "cu": "Q", "q": "Q", "ku": "Q",
    "erre": "R", "ere": "R", "r": "R", "rre": "R",
    "ese": "S", "s": "S",
    "te": "T", "t": "T",
    "u": "U", "uh": "U",
    "uve": "V", "ve": "V", "v": "V",
    "w": "W", "dobleve": "W", "dobleu": "W",
    "equis": "X", "x": "X", "ekis": "X",
    "ye": "Y",
    "zeta": "Z", "seta": "Z", "ceta": "Z", "z": "Z",
}  # fmt: skip

# Two-token letter names; they are matched before single tokens.
DOUBLE = {
    ("doble", "ve"): "W", ("doble", "u"): "W", ("doble", "uve"): "W", ("uve", "doble"): "W", ("doble", "be"): "W",
    ("i", "griega"): "Y", ("y", "griega"): "Y", ("ye", "griega"): "Y",
    ("i", "latina"): "I", ("y", "latina"): "I",
    ("be", "grande"): "B", ("be", "larga"): "B", ("be", "alta"): "B", ("ve", "grande"): "B", ("ve", "larga"): "B",
    ("ve", "chica"): "V", ("ve", "corta"): "V", ("ve", "baja"): "V", ("ve", "chiquita"): "V",
    ("be", "chica"): "V", ("be", "corta"): "V", ("be", "baja"): "V", ("be", "chiquita"): "V",
    ("uve", "chica"): "V",
}  # fmt: skip

# Radio words said alone (NATO and the usual Mexican ones): the letter is their initial.
RADIO_ALONE = {
    "alfa": "A", "alpha": "A", "bravo": "B", "charlie": "C", "charly": "C", "delta": "D", "eco": "E",
    "echo": "E", "foxtrot": "F", "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "julieta": "J",
    "kilo": "K", "lima": "L", "mike": "M", "maik": "M", "november": "N", "noviembre": "N", "oscar": "O",
    "papa": "P", "quebec": "Q", "romeo": "R", "sierra": "S", "tango": "T", "uniform": "U", "uniforme": "U",
    "victor": "V", "whiskey": "W", "whisky": "W", "xray": "X", "yankee": "Y", "yanqui": "Y", "zulu": "Z",
    "avion": "A", "burro": "B", "casa": "C", "dedo": "D", "elefante": "E", "foco": "F", "gato": "G",
    "jalisco": "J", "limon": "L", "mama": "M", "nariz": "N", "oso": "O", "perro": "P", "queso": "Q",
    "rosa": "R", "raton": "R", "sapo": "S", "toro": "T", "uva": "U", "vaca": "V", "washington": "W",
    "xilofono": "X", "yate": "Y", "zapato": "Z", "mexico": "M", "veracruz": "V", "zacatecas": "Z",
}  # fmt: skip

# Letters that sound alike on the phone; a radio word may pick another letter of the same family.
_FAMILIES = ({"B", "V", "W"}, {"C", "S", "Z", "K", "Q", "X"}, {"G", "J", "H"}, {"Y", "I"}, {"N", "Ñ"})

# Words between a letter and its radio word: "A de avión", "A como avión", "A como en avión".
RADIO_LINKS = (("de", "la", "palabra"), ("como", "en"), ("de",), ("como",), ("por",))


def radio_initial(word: str) -> str:
    """The letter a radio word stands for: its initial, with "ch"/"ll" words kept to their first letter."""
    return word[:1].upper()


def settle(letter: str, radio_word: str) -> str | None:
    """The letter meant when `letter` was said with `radio_word`, or None when the two disagree."""
    initial = radio_initial(radio_word)
    if initial == letter:
        return letter
    if letter == "H" and radio_word.startswith("h"):
        return "H"
    if any(letter in family and initial in family for family in _FAMILIES):
        return initial
    return None
