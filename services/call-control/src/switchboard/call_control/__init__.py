"""call-control: the calls API, outbound dialing and TwiML through Twilio, status callbacks, the call record."""
