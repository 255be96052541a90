"""A customer's given names from their full name: what a message greets them by.

Spanish and Portuguese names often carry two given names ("María José", "João Pedro")
followed by one or two surnames, so the first word alone cuts "María José O'Connor" to
"María". There is no field for the given names, so this reads the full name: the first
word, and the second too when it is a name people use as a second given name and a
surname still follows (or the pair is a well-known compound name), and "María del
Carmen" as written. Anything else keeps the first word, which is never wrong, only short.
"""

from __future__ import annotations

# Words that follow a first given name as a second one ("Juan Pablo", "Ana Paula").
_SECOND_GIVEN = frozenset(
    {
        "josé",
        "jose",
        "maría",
        "maria",
        "pablo",
        "luis",
        "carlos",
        "manuel",
        "martín",
        "martin",
        "miguel",
        "ángel",
        "angel",
        "antonio",
        "andrés",
        "andres",
        "ignacio",
        "javier",
        "alberto",
        "francisco",
        "eugenia",
        "fernanda",
        "paula",
        "laura",
        "belén",
        "belen",
        "inés",
        "ines",
        "elena",
        "victoria",
        "sofía",
        "sofia",
        "soledad",
        "cecilia",
        "florencia",
        "lucía",
        "lucia",
        "pedro",
        "eduarda",
        "eduardo",
        "clara",
        "luísa",
        "luisa",
        "luiza",
        "henrique",
        "vitor",
        "victor",
        "felipe",
        "gabriel",
        "gabriela",
        "carolina",
        "beatriz",
        "cristina",
        "isabel",
        "teresa",
        "rosa",
        "emilia",
        "marta",
        "jesús",
        "jesus",
        "ann",
        "anne",
        "marie",
        "pierre",
    }
)
# First names that, followed by a second given name, make one name even with no surname.
_COMPOUND_FIRST = frozenset(
    {"maría", "maria", "josé", "jose", "juan", "ana", "joão", "joao", "luis", "luiz"}
)
_CONNECTORS = frozenset({"del", "de", "da", "do", "dos", "das", "la", "los", "las"})


def given_names(full_name: str) -> str:
    """Return the given names in ``full_name`` ("María José" of "María José O'Connor-Núñez")."""
    words = full_name.split()
    if len(words) < 2:
        return words[0] if words else ""
    first, second = words[0], words[1].lower()
    if second in _CONNECTORS and len(words) >= 4:
        # "María del Carmen Pérez", "María de los Ángeles Díaz": up to the first name word.
        end = 1
        while end < len(words) - 1 and words[end].lower() in _CONNECTORS:
            end += 1
        return " ".join(words[: end + 1])
    surname_follows = len(words) >= 3
    if second in _SECOND_GIVEN and (surname_follows or first.lower() in _COMPOUND_FIRST):
        return f"{first} {words[1]}"
    return first
