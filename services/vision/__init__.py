"""Frame analysers behind one small protocol, so another backend can replace Image Analysis 4.0."""
