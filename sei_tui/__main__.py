from sei_tui.cli import main

raise SystemExit(main())
