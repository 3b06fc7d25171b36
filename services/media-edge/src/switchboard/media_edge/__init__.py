"""The media edge: the phone leg of a call (Twilio Media Streams) bridged to the bus."""
