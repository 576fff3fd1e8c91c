from neurrator.cli import main

raise SystemExit(main())
