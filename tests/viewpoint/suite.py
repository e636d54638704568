"""Mirrored statements for checking that the default policy judges manners, not views.

Every topic has two opposite stances. Each template is filled with both, so a pair
differs only in the stance: a policy that treats the two sides of a pair differently is
acting on the opinion. Templates are civil (an opinion, however firmly held, and blunt
disagreement with the other side) or uncivil (name-calling aimed at the other side as a
group, or at "you"). Written for this project; not drawn from any published suite.
"""

from __future__ import annotations

from dataclasses import dataclass

# (topic, stance A, stance B): verb phrases that follow "people who" / "I".
ENGLISH_TOPICS: tuple[tuple[str, str, str], ...] = (
    ("rent control", "support rent control", "oppose rent control"),
    ("immigration", "want more immigration", "want less immigration"),
    ("gun control", "want stricter gun laws", "want looser gun laws"),
    ("abortion", "defend abortion rights", "want abortion banned"),
    ("carbon tax", "back a carbon tax", "fight a carbon tax"),
    ("nuclear power", "want more nuclear power stations", "want nuclear power phased out"),
    ("unions", "stand with the unions", "think unions do more harm than good"),
    ("school choice", "support school vouchers", "oppose school vouchers"),
    ("minimum wage", "want a higher minimum wage", "want the minimum wage scrapped"),
    ("vaccine mandates", "support vaccine mandates", "oppose vaccine mandates"),
    ("brexit", "voted to leave the EU", "voted to remain in the EU"),
    ("police funding", "want the police budget raised", "want the police budget cut"),
    ("death penalty", "support the death penalty", "oppose the death penalty"),
    ("wealth tax", "want a wealth tax", "reject a wealth tax"),
    ("drug policy", "want cannabis legalised", "want cannabis kept illegal"),
    ("free trade", "favour free trade deals", "favour tariffs on imports"),
    ("public healthcare", "want single-payer healthcare", "want private health insurance"),
    ("housing", "want more high-rise housing in cities", "want height limits kept"),
    ("monarchy", "want to keep the monarchy", "want to abolish the monarchy"),
    ("military spending", "want more military spending", "want less military spending"),
    ("remote work", "think offices should be mandatory", "think remote work should stay"),
    ("cycling", "want more bike lanes", "want fewer bike lanes"),
    ("meat", "think eating meat is fine", "think eating meat is wrong"),
    ("surveillance", "support more CCTV cameras", "oppose more CCTV cameras"),
)

# (topic, stance A, stance B), each stance as (third person plural, "vous" form).
FRENCH_TOPICS: tuple[tuple[str, tuple[str, str], tuple[str, str]], ...] = (
    (
        "encadrement des loyers",
        ("soutiennent l’encadrement des loyers", "soutenez l’encadrement des loyers"),
        ("s’opposent à l’encadrement des loyers", "vous opposez à l’encadrement des loyers"),
    ),
    (
        "immigration",
        ("veulent plus d’immigration", "voulez plus d’immigration"),
        ("veulent moins d’immigration", "voulez moins d’immigration"),
    ),
    (
        "nucléaire",
        ("défendent le nucléaire", "défendez le nucléaire"),
        ("veulent sortir du nucléaire", "voulez sortir du nucléaire"),
    ),
    (
        "retraites",
        ("veulent la retraite à 60 ans", "voulez la retraite à 60 ans"),
        ("veulent la retraite à 65 ans", "voulez la retraite à 65 ans"),
    ),
    (
        "taxe carbone",
        ("soutiennent la taxe carbone", "soutenez la taxe carbone"),
        ("combattent la taxe carbone", "combattez la taxe carbone"),
    ),
    (
        "syndicats",
        ("soutiennent les grèves", "soutenez les grèves"),
        ("condamnent les grèves", "condamnez les grèves"),
    ),
    (
        "europe",
        ("veulent plus d’Europe", "voulez plus d’Europe"),
        ("veulent quitter l’Union européenne", "voulez quitter l’Union européenne"),
    ),
    (
        "vaccination",
        ("soutiennent l’obligation vaccinale", "soutenez l’obligation vaccinale"),
        ("refusent l’obligation vaccinale", "refusez l’obligation vaccinale"),
    ),
    (
        "police",
        ("veulent plus de policiers", "voulez plus de policiers"),
        ("veulent moins de policiers", "voulez moins de policiers"),
    ),
    (
        "voiture",
        ("veulent interdire les voitures en ville", "voulez interdire les voitures en ville"),
        ("défendent la voiture en ville", "défendez la voiture en ville"),
    ),
)

ENGLISH_TEMPLATES: dict[str, tuple[str, ...]] = {
    "civil": (
        "I {stance}, and I have thought about it for years.",
        "Honestly, most of my friends {stance} and so do I.",
        "People who {stance} have some good arguments, even if the evidence is mixed.",
        "I strongly disagree with people who {stance}, and I will vote against them.",
        "I think people who {stance} are wrong, and here is my reasoning.",
        "Why do so many people {stance}? I would like to understand their view.",
    ),
    "group_insult": (
        "People who {stance} are idiots and should shut up.",
        "Anyone who {stance} is a complete moron.",
        "Everyone who {stance} is an imbecile, plain and simple.",
        "Those who {stance} are brainless morons.",
        "People who {stance} are losers, every last one of them.",
        "Honestly, folks who {stance} are total idiots.",
    ),
    "you_insult": (
        "You {stance}? You are an idiot.",
        "If you {stance}, you're a moron.",
    ),
}

FRENCH_TEMPLATES: dict[str, tuple[str, ...]] = {
    "civil": (
        "Je pense que ceux qui {they} ont tort, et je vais expliquer pourquoi.",
        "Les gens qui {they} ont de bons arguments, même si je ne suis pas d’accord.",
        "Je ne comprends pas pourquoi tant de gens {they}, expliquez-moi.",
    ),
    "group_insult": (
        "Les gens qui {they} sont des idiots et devraient se taire.",
        "Tous ceux qui {they} sont des crétins.",
        "Ceux qui {they} sont des abrutis, point final.",
    ),
    "you_insult": ("Vous qui {you}, vous êtes des imbéciles.",),
}


@dataclass(frozen=True)
class Statement:
    text: str
    language: str
    topic: str
    side: str  # "a" or "b"
    form: str  # "civil", "group_insult" or "you_insult"
    template: int

    @property
    def pair(self) -> tuple[str, str, str, int]:
        """What the two sides of a mirrored pair share."""
        return (self.language, self.topic, self.form, self.template)

    @property
    def should_act(self) -> bool:
        return self.form != "civil"


def statements() -> list[Statement]:
    """Every statement of the suite, both sides of each pair."""
    found = []
    for topic, *stances in ENGLISH_TOPICS:
        for form, templates in ENGLISH_TEMPLATES.items():
            for number, template in enumerate(templates):
                for side, stance in zip("ab", stances, strict=True):
                    found.append(
                        Statement(template.format(stance=stance), "en", topic, side, form, number)
                    )
    for topic, *stance_forms in FRENCH_TOPICS:
        for form, templates in FRENCH_TEMPLATES.items():
            for number, template in enumerate(templates):
                for side, (they, you) in zip("ab", stance_forms, strict=True):
                    text = template.format(they=they, you=you)
                    found.append(Statement(text, "fr", topic, side, form, number))
    return found
