"""Compare configurations by meaning, one module per dialect: frr, nft (and the others
beside them). Pure, no I/O."""
