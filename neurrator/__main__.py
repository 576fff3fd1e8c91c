from neurrator.book.cli import main

raise SystemExit(main())
