"""Work diaries (工作日记) of grid members and the spot checks (抽查) of them."""
