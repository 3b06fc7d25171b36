"""Call recordings: stereo μ-law at 8 kHz in chunks of the JetStream object store, read back as WAV."""
