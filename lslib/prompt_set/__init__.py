"""Prompt sets: the ordered class list a user maps with (names, synonyms, descriptions, colours, thresholds).

A prompt set is what the map UI edits and what ``lslib predict`` reads: YAML on disk, a preset for every
product in :mod:`lslib.taxonomy`, and validation that refuses what would make a map ambiguous (blank or
duplicate names after normalisation, too many classes, bad colours or thresholds).

.. code-block:: yaml

    name: my classes
    classes:
      - {name: water, colour: "#419bdf"}
      - {name: forest, synonyms: [trees, woodland], description: closed tree canopy, threshold: 0.3}

**One prompt rule.** Every door (``Predictor.predict``, ``map_large_area``, the map app, ``lslib predict
--prompts``) turns what it is given into a prompt set with :func:`resolve`:

1. a :class:`PromptSet` is used as it is (validated);
2. an ``os.PathLike`` (``Path``) is a prompt-set file: :func:`load`;
3. a string is stripped, then
   a. ending in ``.yaml``/``.yml`` (any case): the prompt-set file at that path (:func:`load`);
      FileNotFoundError if there is no such file;
   b. equal, ignoring case, to a taxonomy preset key (:func:`presets`, e.g. ``"esa_worldcover"``): that
      preset with its official names, synonyms, colours and codes (:func:`from_taxonomy`);
   c. otherwise comma-separated class names (``"water, forest"``); blank entries are dropped, so a single
      name such as ``"forest"`` is a one-class set;
4. a list or tuple holds class names, one per class (every element must be a string; a preset key in a
   list is a class name, not a preset).

Nothing left (``""``, ``" , "``, ``[]``, ``None``) is a ValueError saying what to pass; duplicate or blank
names are refused by :func:`validate`.

**Default colours.** Classes without a colour are drawn in :data:`PALETTE` colours (:attr:`PromptSet.colours`);
:func:`suggest_colours` gives them instead the colour of the nearest class of a land-cover product
(``forest`` green, ``water`` blue), by text-embedding or lexical similarity.

**Reading order.** Every public name is exported here (``from lslib.prompt_set import resolve``); the modules:

1. :mod:`~lslib.prompt_set.names`: :func:`normalise_name`, when two names are the same name;
2. :mod:`~lslib.prompt_set.core`: :class:`ClassPrompt`, :class:`PromptSet`, :func:`validate`
   (:class:`DuplicateNameError`), the limits, :data:`PALETTE`, :func:`from_names`, :func:`from_taxonomy`,
   :func:`presets`;
3. :mod:`~lslib.prompt_set.files`: YAML :func:`parse`, :func:`load` (a ``teaching:`` section is kept in
   ``extra``) and :func:`save`;
4. :mod:`~lslib.prompt_set.rule`: the one prompt rule, :func:`resolve`;
5. :mod:`~lslib.prompt_set.colours`: :func:`suggest_colours`, matching free text to product classes.
"""

from lslib.prompt_set.colours import COLOUR_MARGIN, MIN_COLOUR_DISTANCE, MIN_SIMILARITY, Embed, suggest_colours
from lslib.prompt_set.core import (
    MAX_CLASSES,
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    PALETTE,
    ClassPrompt,
    DuplicateNameError,
    PromptSet,
    from_names,
    from_taxonomy,
    presets,
    validate,
)
from lslib.prompt_set.files import load, parse, save
from lslib.prompt_set.names import normalise_name
from lslib.prompt_set.rule import EMPTY_HINT, resolve

__all__ = [
    "COLOUR_MARGIN",
    "EMPTY_HINT",
    "MAX_CLASSES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_NAME_CHARS",
    "MIN_COLOUR_DISTANCE",
    "MIN_SIMILARITY",
    "PALETTE",
    "ClassPrompt",
    "DuplicateNameError",
    "Embed",
    "PromptSet",
    "from_names",
    "from_taxonomy",
    "load",
    "normalise_name",
    "parse",
    "presets",
    "resolve",
    "save",
    "suggest_colours",
    "validate",
]
