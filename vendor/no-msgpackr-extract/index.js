// See package.json: msgpackr catches this and uses its pure-JS string decoding.
throw new Error('msgpackr-extract is not installed (pure-JS msgpackr is used)');
