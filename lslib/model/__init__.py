"""Model parts, one file per part of the paper's diagram."""
