"""Forward and reverse search over an index, and their geocodejson output."""
